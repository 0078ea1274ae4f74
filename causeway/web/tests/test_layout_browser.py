"""The shared layout in a browser against a real `causeway web`: the sidebar on a desktop and on a
390-pixel-wide phone, axe-core on each page, a confirmation before a delete, a styled 404."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.recipes.secrets import secret_write
from causeway.runs.tests.factories import make_job, make_recipe, schedule_definition
from causeway.runs.triggers import recipe_start
from causeway.vault.models import Secret
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.pages import reviewed
from testkit.support import STRONG_PASSWORD, make_user, make_workspace

PAGES = [
    ("dashboard", "/w/acme/", "Dashboard"),
    ("recipes", "/w/acme/recipes", "Recipes"),
    ("run-history", "/w/acme/jobs", "Run History"),
    ("schedule", "/w/acme/schedule", "Schedule"),
    ("vault", "/w/acme/vault", "Vault"),
    ("members", "/w/acme/members", "Members"),
    ("settings", "/w/acme/settings", "Settings"),
]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_the_sidebar_marks_each_page_on_a_desktop_and_a_phone_and_a_delete_asks_first(
    https_server: Any, transactional_db: Any
) -> None:
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin"})
    daily = make_recipe(admin, acme, "Daily report", definition=schedule_definition("0 9 * * 1-5"))
    recipe_start(actor=admin, recipe=daily)
    make_job(daily, by=admin, status="failed", error="the report server said 503")
    secret_write(actor=admin, workspace=acme, name="CRM_TOKEN", value="layout-canary-1")
    base = https_server.url
    with chromium() as browser:
        desktop = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        page = desktop.new_page()
        browser_sign_in(page, base, admin.email, STRONG_PASSWORD)
        for name, path, label in PAGES:
            page.goto(base + path)
            assert page.locator('nav.sidebar a[aria-current="page"]').all_inner_texts() == [label]
            reviewed(page, f"desktop-{name}")
        page.goto(f"{base}/w/acme/schedule")
        assert page.locator(".cron-words").inner_text() == "At 09:00, Monday through Friday, Europe/Paris"

        # A delete asks first: said no, nothing happens; said yes, the secret is gone.
        page.goto(f"{base}/w/acme/vault")
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click('tr[data-secret="CRM_TOKEN"] button.danger')
        page.wait_for_timeout(300)  # a dismissed confirmation leaves the page as it is; nothing to wait for
        assert page.locator('tr[data-secret="CRM_TOKEN"]').count() == 1
        asked: list[str] = []

        def accept(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        page.click('tr[data-secret="CRM_TOKEN"] button.danger')
        page.wait_for_selector('tr[data-secret="CRM_TOKEN"]', state="detached")
        assert asked == ["Delete this secret? Recipes that refer to it fail until it is set again."]

        page.goto(f"{base}/w/acme/jobs/00000000-0000-0000-0000-000000000000")
        assert page.locator("h1").inner_text() == "Not found"
        assert len(page.locator("#request-id").inner_text()) == 32
        reviewed(page, "desktop-not-found")

        phone = browser.new_context(
            ignore_https_errors=True, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        small = phone.new_page()
        browser_sign_in(small, base, admin.email, STRONG_PASSWORD)
        for name, path, _ in PAGES:
            small.goto(base + path)
            reviewed(small, f"phone-{name}")
            # Nothing is wider than the phone: wide tables scroll inside themselves.
            assert small.evaluate("() => document.documentElement.scrollWidth") <= 390, name
    assert not Secret.objects.filter(name="CRM_TOKEN").exists()
