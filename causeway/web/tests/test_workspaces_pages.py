"""Workspace, members, settings, platform and invitation pages: who sees what, what each change records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from causeway.access import members as services
from causeway.accounts.models import User, UserType, email_index
from causeway.workspaces.models import Invitation, Membership, invitation_email_index
from causeway.workspaces.tests.helpers import (
    AuditWatch,
    fast_hashing,  # noqa: F401
    on_platform,
    on_workspace,
    sign_in,
    token_of,
)
from testkit.personas import cast
from testkit.support import (
    STRONG_PASSWORD,
    TEST_HOME,
    RunningServer,
    field_errors,
    https_client,
    make_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    return cast(names={"admin": ("Ada", "Admin")}).people()


def as_user(user: Any) -> Any:
    return sign_in(https_client(), user)


def member_of(people: dict[str, Any], who: str) -> Membership:
    return Membership.objects.get(workspace=people["acme"], user=people[who])


def admin_only_posts(people: dict[str, Any], mailoutbox: Any) -> list[tuple[str, dict[str, str], str]]:
    """Every change on the members and settings pages, with the permission it needs."""
    target = member_of(people, "analyst").pk
    invitation = services.workspace_invitation_create(
        actor=people["admin"], workspace=people["acme"], email="pending@example.com", role="operator"
    ).invitation
    return [
        ("/w/acme/members/invite", {"email": "x@example.com", "role": "admin"}, "member:manage"),
        (f"/w/acme/members/{target}/role", {"role": "admin"}, "member:manage"),
        (f"/w/acme/members/{target}/remove", {}, "member:manage"),
        (f"/w/acme/invitations/{invitation.pk}/revoke", {}, "member:manage"),
        ("/w/acme/settings", {"name": "Mine", "session_timeout": "15"}, "workspace:settings"),
    ]


# Overview and navigation


def test_overview_shows_the_name_the_viewer_role_and_only_links_they_may_use(people: dict[str, Any]) -> None:
    page = as_user(people["admin"]).get("/w/acme/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme" in text and '<strong id="your-role">Admin</strong>' in text
    assert 'href="/w/acme/members"' in text and 'href="/w/acme/settings"' in text
    for who, role in (("operator", "Operator"), ("analyst", "Analyst")):
        text = as_user(people[who]).get("/w/acme/").content.decode()
        assert f'<strong id="your-role">{role}</strong>' in text
        assert "/w/acme/members" not in text and "/w/acme/settings" not in text


def test_navigation_shows_the_platform_link_only_to_staff(people: dict[str, Any]) -> None:
    assert 'href="/platform"' in as_user(people["staff"]).get("/").content.decode()
    assert 'href="/platform"' not in as_user(people["admin"]).get("/").content.decode()


def test_home_lists_only_the_viewer_workspaces(people: dict[str, Any]) -> None:
    text = as_user(people["operator"]).get("/").content.decode()
    assert 'href="/w/acme/"' in text and "/w/other/" not in text
    text = as_user(people["staff"]).get("/").content.decode()
    assert "/w/acme/" not in text and "not a member of any workspace" in text


# Rule 9 and rule 3


def test_rule_09_operator_and_analyst_get_403_naming_the_permission_on_every_admin_change(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    posts = admin_only_posts(people, mailoutbox)
    for who in ("operator", "analyst"):
        client = as_user(people[who])
        for url, data, perm in posts:
            watch = AuditWatch()
            response = client.post(url, data)
            assert response.status_code == 403, (who, url)
            assert perm in response.content.decode()
            assert watch.actions() == [on_workspace(people["acme"], "access.denied")]
        for url, perm in (("/w/acme/members", "member:view"), ("/w/acme/settings", "workspace:settings")):
            response = client.get(url)
            assert response.status_code == 403 and perm in response.content.decode()
    acme = people["acme"]
    acme.refresh_from_db()
    assert acme.name == "Acme"
    assert member_of(people, "analyst").role.key == "analyst"
    assert not Invitation.objects.filter(email_index=invitation_email_index("x@example.com")).exists()


def test_rule_09_other_workspace_member_and_staff_non_member_get_404_everywhere(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    posts = admin_only_posts(people, mailoutbox)
    for who in ("outsider", "staff"):
        client = as_user(people[who])
        for url in ("/w/acme/", "/w/acme/members", "/w/acme/settings", "/w/missing/"):
            assert client.get(url).status_code == 404, (who, url)
        for url, data, _ in posts:
            assert client.post(url, data).status_code == 404, (who, url)
    assert member_of(people, "analyst").role.key == "analyst"


def test_rule_09_a_member_id_of_another_workspace_is_404(people: dict[str, Any]) -> None:
    foreign = Membership.objects.get(workspace=people["other"])
    client = as_user(people["admin"])
    assert client.post(f"/w/acme/members/{foreign.pk}/role", {"role": "operator"}).status_code == 404
    assert client.post(f"/w/acme/members/{foreign.pk}/remove").status_code == 404
    assert Membership.objects.filter(pk=foreign.pk, role__key="admin").exists()


def test_rule_03_staff_cannot_read_members_or_settings_of_a_workspace_they_are_not_in(
    people: dict[str, Any],
) -> None:
    client = as_user(people["staff"])
    for url in ("/w/acme/members", "/w/acme/settings"):
        response = client.get(url)
        assert response.status_code == 404
        assert "admin@example.com" not in response.content.decode()


def test_rule_03_members_and_settings_pages_are_admin_only(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    assert admin.get("/w/acme/members").status_code == 200
    assert admin.get("/w/acme/settings").status_code == 200
    for who in ("analyst", "operator"):
        assert as_user(people[who]).get("/w/acme/members").status_code == 403
        assert as_user(people[who]).get("/w/acme/settings").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(people: dict[str, Any]) -> None:
    client = https_client()
    for url in ("/w/acme/", "/w/acme/members", "/w/acme/settings", "/platform"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login")


# Members


def test_members_page_lists_members_with_roles(people: dict[str, Any]) -> None:
    text = as_user(people["admin"]).get("/w/acme/members").content.decode()
    for email in ("admin@example.com", "analyst@example.com", "operator@example.com"):
        assert email in text
    assert "outsider@example.com" not in text
    assert 'id="invite-form"' in text


def test_inviting_shows_the_link_once_emails_it_and_writes_one_event(
    people: dict[str, Any], mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = as_user(people["admin"])
    watch = AuditWatch()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/w/acme/members/invite", {"email": "bob@example.com", "role": "operator"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    link = re.search(r'<p class="secret" id="invitation-link">([^<]+)</p>', response.content.decode())
    assert link is not None
    assert link.group(1) in mailoutbox[0].body
    assert watch.actions() == [on_workspace(people["acme"], "invitation.sent")]
    again = client.get("/w/acme/members").content.decode()
    assert "bob@example.com" in again and token_of(link.group(1)) not in again


def test_invite_form_errors_name_the_field(people: dict[str, Any], mailoutbox: Any) -> None:
    client = as_user(people["admin"])
    response = client.post("/w/acme/members/invite", {"email": "nope", "role": "operator"})
    assert response.status_code == 400
    email = field_errors(response.content.decode(), "email", ids="invite-%s")
    assert email and email[0].startswith("Email is not a valid email address")
    response = client.post("/w/acme/members/invite", {"email": "bob@example.com", "role": "owner"})
    role = field_errors(response.content.decode(), "role", ids="invite-%s")
    assert role and role[0].startswith("must be one of")
    assert mailoutbox == []


def test_removal_ends_the_member_access_on_the_very_next_request(people: dict[str, Any]) -> None:
    analyst = as_user(people["analyst"])
    assert analyst.get("/w/acme/").status_code == 200
    watch = AuditWatch()
    response = as_user(people["admin"]).post(f"/w/acme/members/{member_of(people, 'analyst').pk}/remove")
    assert response.status_code == 302
    assert watch.actions() == [on_workspace(people["acme"], "member.removed")]
    assert analyst.get("/w/acme/").status_code == 404
    assert "/w/acme/" not in analyst.get("/").content.decode()


def test_a_role_change_takes_effect_on_the_next_request(people: dict[str, Any]) -> None:
    operator = as_user(people["operator"])
    assert operator.get("/w/acme/members").status_code == 403
    watch = AuditWatch()
    as_user(people["admin"]).post(
        f"/w/acme/members/{member_of(people, 'operator').pk}/role", {"role": "admin"}
    )
    assert watch.actions() == [on_workspace(people["acme"], "member.role_changed")]
    assert operator.get("/w/acme/members").status_code == 200
    as_user(people["admin"]).post(
        f"/w/acme/members/{member_of(people, 'operator').pk}/role", {"role": "operator"}
    )
    assert operator.get("/w/acme/members").status_code == 403


def test_the_last_admin_is_told_why_they_cannot_leave_or_be_demoted(people: dict[str, Any]) -> None:
    client = as_user(people["admin"])
    me = member_of(people, "admin").pk
    watch = AuditWatch()
    response = client.post(f"/w/acme/members/{me}/role", {"role": "analyst"})
    assert response.status_code == 400 and "last Admin" in response.content.decode()
    response = client.post(f"/w/acme/members/{me}/remove")
    assert response.status_code == 400 and "last Admin" in response.content.decode()
    assert watch.new() == []


def test_revoking_an_invitation_from_the_members_page(people: dict[str, Any], mailoutbox: Any) -> None:
    invitation = services.workspace_invitation_create(
        actor=people["admin"], workspace=people["acme"], email="bob@example.com", role="operator"
    ).invitation
    watch = AuditWatch()
    response = as_user(people["admin"]).post(f"/w/acme/invitations/{invitation.pk}/revoke")
    assert response.status_code == 302
    assert watch.actions() == [on_workspace(people["acme"], "invitation.revoked")]
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


# Settings


def test_settings_save_and_write_one_event(people: dict[str, Any]) -> None:
    watch = AuditWatch()
    response = as_user(people["admin"]).post(
        "/w/acme/settings", {"name": "Acme Ltd", "session_timeout": "45"}
    )
    assert response.status_code == 302
    acme = people["acme"]
    acme.refresh_from_db()
    assert (acme.name, acme.session_timeout) == ("Acme Ltd", timedelta(minutes=45))
    assert watch.actions() == [on_workspace(acme, "workspace.settings_changed")]


@pytest.mark.parametrize("value", ["14", "20161", "soon", "-1"])
def test_session_timeout_out_of_range_is_a_form_error_naming_the_field(
    people: dict[str, Any], value: str
) -> None:
    watch = AuditWatch()
    response = as_user(people["admin"]).post("/w/acme/settings", {"name": "Acme", "session_timeout": value})
    assert response.status_code == 400
    problems = field_errors(response.content.decode(), "session_timeout")
    assert problems and problems[0].startswith("must be a whole number of minutes")
    acme = people["acme"]
    acme.refresh_from_db()
    assert acme.session_timeout == timedelta(days=7)
    assert watch.new() == []


def test_settings_form_requires_csrf(people: dict[str, Any]) -> None:
    client = https_client(enforce_csrf_checks=True)
    sign_in(client, people["admin"])
    assert client.post("/w/acme/settings", {"name": "X", "session_timeout": "30"}).status_code == 403
    people["acme"].refresh_from_db()
    assert people["acme"].name == "Acme"


# Platform


def test_platform_page_is_for_staff_only(people: dict[str, Any]) -> None:
    response = as_user(people["staff"]).get("/platform")
    assert response.status_code == 200
    assert "outsider@example.com" in response.content.decode()
    for who in ("admin", "operator"):
        assert as_user(people[who]).get("/platform").status_code == 404
        assert as_user(people[who]).post("/platform/invite", {"email": "z@example.com"}).status_code == 404
        assert as_user(people[who]).post("/platform/workspaces", {"name": "Mine"}).status_code == 404
    assert not Invitation.objects.exists()


def test_staff_invite_to_the_platform_and_create_a_workspace(people: dict[str, Any], mailoutbox: Any) -> None:
    client = as_user(people["staff"])
    watch = AuditWatch()
    response = client.post("/platform/invite", {"email": "new@example.com", "staff": "on"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert 'id="invitation-link"' in response.content.decode()
    assert (
        Invitation.objects.get(email_index=invitation_email_index("new@example.com")).user_type
        == UserType.STAFF
    )
    assert watch.actions() == [on_platform("invitation.sent")]
    watch = AuditWatch()
    response = client.post("/platform/workspaces", {"name": "Blue", "admin_email": "operator@example.com"})
    assert response.status_code == 302
    blue = Membership.objects.get(workspace__slug="blue")
    assert (blue.user, blue.role.key) == (people["operator"], "admin")
    assert watch.actions() == [on_workspace(blue.workspace, "workspace.created")]
    response = client.post("/platform/workspaces", {"name": "Acme", "slug": "acme"})
    assert response.status_code == 400
    slug = field_errors(response.content.decode(), "slug", ids="workspace-%s")
    assert slug and slug[0].startswith("is already used")


def test_staff_revoke_a_platform_invitation_but_not_a_workspace_one(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    platform = services.platform_invitation_create(actor=people["staff"], email="new@example.com").invitation
    workspace = services.workspace_invitation_create(
        actor=people["admin"], workspace=people["acme"], email="bob@example.com", role="analyst"
    ).invitation
    client = as_user(people["staff"])
    watch = AuditWatch()
    assert client.post(f"/platform/invitations/{platform.pk}/revoke").status_code == 302
    assert client.post(f"/platform/invitations/{workspace.pk}/revoke").status_code == 404
    assert watch.actions() == [on_platform("invitation.revoked")]
    assert Invitation.objects.get(pk=workspace.pk).revoked_at is None


# Accepting an invitation


def test_unusable_links_all_show_one_neutral_message(people: dict[str, Any], mailoutbox: Any) -> None:
    used = services.platform_invitation_create(actor=people["staff"], email="used@example.com")
    services.invitation_accept(
        actor=None, token=token_of(used.link), first_name="Use", last_name="D", password=STRONG_PASSWORD
    )
    revoked = services.platform_invitation_create(actor=people["staff"], email="revoked@example.com")
    services.invitation_revoke(actor=people["staff"], invitation=revoked.invitation)
    expired = services.platform_invitation_create(actor=people["staff"], email="expired@example.com")
    Invitation.objects.filter(pk=expired.invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    client = https_client()
    bodies = set()
    for token in ("nonsense", token_of(used.link), token_of(revoked.link), token_of(expired.link)):
        for response in (client.get(f"/invitations/{token}"), client.post(f"/invitations/{token}", {})):
            assert response.status_code == 404
            body = response.content.decode()
            assert "@example.com" not in body
            main = body[body.index("<main") :]
            bodies.add(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", main))
    assert len(bodies) == 1
    assert "not valid" in bodies.pop()


def test_a_new_person_accepts_sets_a_password_and_mass_assignment_is_ignored(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    issued = services.workspace_invitation_create(
        actor=people["admin"], workspace=people["acme"], email="bob@example.com", role="operator"
    )
    url = f"/invitations/{token_of(issued.link)}"
    client = https_client()
    page = client.get(url)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert 'id="accept-form"' in page.content.decode()
    watch = AuditWatch()
    response = client.post(
        url,
        {
            "first_name": "Bob",
            "last_name": "Smith",
            "password": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
            "email": "attacker@example.com",
            "user_type": "staff",
            "is_staff": "on",
            "role": "admin",
            "workspace": "other",
        },
    )
    assert response.status_code == 302 and response["Location"].startswith("/login?next=/w/acme/")
    bob = User.objects.with_email("bob@example.com").get()
    assert bob.user_type == UserType.STANDARD and not bob.is_staff
    assert not User.objects.with_email("attacker@example.com").exists()
    assert list(Membership.objects.filter(user=bob).values_list("workspace__slug", "role__key")) == [
        ("acme", "operator")
    ]
    assert watch.actions() == [on_platform("user.created"), on_workspace(people["acme"], "member.added")]
    assert client.get(url).status_code == 404


def test_accept_form_errors_name_the_field_and_keep_the_live_secret_out_of_the_log(
    people: dict[str, Any], mailoutbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    issued = services.platform_invitation_create(actor=people["staff"], email="new@example.com")
    url = f"/invitations/{token_of(issued.link)}"
    client = https_client()
    cases = [
        (
            {"first_name": "J", "last_name": "Doe", "password": STRONG_PASSWORD},
            "First name must be at least 2",
        ),
        (
            {"first_name": "Jo", "last_name": "D4", "password": STRONG_PASSWORD},
            "Last name may contain letters",
        ),
        ({"first_name": "Jo", "last_name": "Doe", "password": "abc"}, "Password"),
    ]
    for data, message in cases:
        response = client.post(url, {**data, "password2": data["password"]})
        assert response.status_code == 200 and message in response.content.decode()
    response = client.post(
        url, {"first_name": "Jo", "last_name": "Doe", "password": STRONG_PASSWORD, "password2": "other"}
    )
    assert response.status_code == 200 and "Password (again) does not match" in response.content.decode()
    assert not User.objects.with_email("new@example.com").exists()
    assert token_of(issued.link) not in caplog.text


def test_an_existing_user_accepts_only_when_signed_in_as_the_invited_address(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    issued = services.workspace_invitation_create(
        actor=people["outsider"], workspace=people["other"], email="operator@example.com", role="analyst"
    )
    url = f"/invitations/{token_of(issued.link)}"
    anonymous = https_client().get(url).content.decode()
    assert "Log in</a> as operator@example.com" in anonymous
    wrong = as_user(people["admin"])
    assert "logged in as another account" in wrong.get(url).content.decode()
    refused = wrong.post(url)
    assert "logged in as another account" in refused.content.decode()
    right = as_user(people["operator"])
    assert 'id="accept-form"' in right.get(url).content.decode()
    response = right.post(url)
    assert response.status_code == 302 and response["Location"] == "/w/other/"
    assert right.get("/w/other/").status_code == 200


# In a real browser, against a real server


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright. Playwright runs an event loop in this thread, so the
    database is touched only outside this block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _log_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("form.stacked button[type=submit]")


def _emailed(link: str) -> bool:
    """Whether the server's outbox (where its email goes by default) holds a message with this link."""
    return any(link in mail.read_text() for mail in (TEST_HOME / "mail").glob("*.eml"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_staff_invites_a_person_who_signs_up_then_joins_a_workspace(
    transactional_db: None, https_server: RunningServer
) -> None:
    # `transactional_db` is named, not only marked, so the audit triggers are lifted for the flush.
    from playwright.sync_api import expect

    base = https_server.url
    make_user("staff@example.com", staff=True, first="Grace", last="Hopper")
    with chromium() as browser:
        staff = browser.new_context(ignore_https_errors=True).new_page()
        _log_in(staff, base, "staff@example.com", STRONG_PASSWORD)
        expect(staff.locator("h1")).to_have_text("Your workspaces")

        staff.goto(f"{base}/platform")
        staff.fill("#platform-invite-email", "nora@example.com")
        staff.click("#platform-invite-form button[type=submit]")
        link = staff.locator("#invitation-link").inner_text().strip()
        assert _emailed(link)

        nora = browser.new_context(ignore_https_errors=True).new_page()
        nora.goto(base + urlsplit(link).path)
        expect(nora.locator("h1")).to_have_text("Join Causeway")
        nora.fill("#id_first_name", "Nora")
        nora.fill("#id_last_name", "Newman")
        nora.fill("#id_password", "short")
        nora.fill("#id_password2", "short")
        nora.click("#accept-form button[type=submit]")
        expect(nora.locator("#id_password_error")).to_contain_text("Password:")
        nora.fill("#id_password", STRONG_PASSWORD)
        nora.fill("#id_password2", STRONG_PASSWORD)
        nora.click("#accept-form button[type=submit]")
        expect(nora.locator(".messages")).to_contain_text("Your account is ready")
        _log_in(nora, base, "nora@example.com", STRONG_PASSWORD)
        expect(nora.locator("main")).to_contain_text("not a member of any workspace")
        nora.goto(base + urlsplit(link).path)
        expect(nora.locator("#invitation-unusable")).to_be_visible()

        staff.goto(f"{base}/platform")
        expect(staff.locator("#users")).to_contain_text("nora@example.com")
        staff.fill("#workspace-name", "Harbour")
        staff.click("#workspace-create-form button[type=submit]")
        expect(staff.locator(".messages")).to_contain_text("Workspace Harbour created")
        staff.goto(f"{base}/w/harbour/members")
        staff.fill("#invite-email", "nora@example.com")
        staff.select_option("#invite-role", "analyst")
        staff.click("#invite-form button[type=submit]")
        second = staff.locator("#invitation-link").inner_text().strip()
        assert _emailed(second)

        nora.goto(base + urlsplit(second).path)
        expect(nora.locator("h1")).to_have_text("Join Harbour")
        nora.click("#accept-form button[type=submit]")
        expect(nora.locator("#your-role")).to_have_text("Analyst")
        assert urlsplit(nora.url).path == "/w/harbour/"
        expect(nora.locator("nav.sidebar")).not_to_contain_text("Members")
        nora.goto(f"{base}/")
        expect(nora.locator("#workspaces")).to_contain_text("Harbour")
    assert Membership.objects.get(user__email_index=email_index("nora@example.com")).role.key == "analyst"
