"""The Vault page: names and metadata for every member, write-only forms for Admins, nothing else."""

from __future__ import annotations

import re
from typing import Any

import pytest

from causeway.audit.models import AuditEvent
from causeway.recipes.secrets import secret_write
from causeway.vault.masking import registry
from causeway.vault.models import Secret
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from causeway.workspaces.tests.helpers import AuditWatch, fast_hashing, on_workspace, sign_in  # noqa: F401
from testkit.personas import cast
from testkit.support import STRONG_PASSWORD, field_errors, https_client, make_user, make_workspace

VALUE = "pk_page-canary-5150"


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    people = cast().people()
    secret_write(
        actor=people["admin"],
        workspace=people["acme"],
        name="STRIPE_KEY",
        value=VALUE,
        allowed_hosts=["api.stripe.com"],
    )
    return people


@pytest.fixture(autouse=True)
def _empty_mask_registry() -> Any:
    registry.clear()
    yield
    registry.clear()


def as_user(user: Any) -> Any:
    return sign_in(https_client(), user)


def password_inputs(html: str) -> list[str]:
    return re.findall(r"<input[^>]*name=\"value\"[^>]*>", html)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["operator", "analyst"])
def test_every_member_sees_names_and_metadata_but_no_forms(people: dict[str, Any], who: str) -> None:
    response = as_user(people[who]).get("/w/acme/vault")
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(r'<tr data-secret="STRIPE_KEY">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "api.stripe.com" in row.group(1)
    assert "admin@example.com" in row.group(1)
    assert "none yet" in row.group(1)
    assert VALUE not in html
    assert password_inputs(html) == []
    assert "/w/acme/vault/set" not in html and "/w/acme/vault/delete" not in html
    assert "Only this workspace's Admins create, replace and delete secrets." in html


@pytest.mark.django_db
def test_admins_get_write_only_forms_that_never_hold_a_value(people: dict[str, Any]) -> None:
    html = as_user(people["admin"]).get("/w/acme/vault").content.decode()
    assert VALUE not in html
    inputs = password_inputs(html)
    assert len(inputs) == 2  # replace STRIPE_KEY, and the new-secret form
    for tag in inputs:
        assert 'type="password"' in tag and 'autocomplete="off"' in tag
        assert "value=" not in tag.replace('name="value"', "")


@pytest.mark.django_db
def test_the_overview_links_to_the_vault(people: dict[str, Any]) -> None:
    html = as_user(people["operator"]).get("/w/acme/").content.decode()
    assert 'href="/w/acme/vault"' in html


@pytest.mark.django_db
def test_admin_creates_replaces_and_deletes_through_the_forms(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    watch = AuditWatch()
    created = admin.post(
        "/w/acme/vault/set",
        {"form": "new", "name": "SLACK", "value": "xoxb-1-page", "allowed_hosts": "slack.com, *.slack.com"},
    )
    assert (created.status_code, created["Location"]) == (302, "/w/acme/vault")
    secret = Secret.objects.get(workspace_id=people["acme"].id, name="SLACK")
    assert (secret.value, secret.allowed_hosts) == ("xoxb-1-page", ["slack.com", "*.slack.com"])
    page = admin.get("/w/acme/vault").content.decode()
    assert "Secret SLACK created." in page and "xoxb-1-page" not in page

    replaced = admin.post(
        "/w/acme/vault/set", {"form": "replace", "name": "SLACK", "value": "xoxb-2-page", "allowed_hosts": ""}
    )
    assert replaced.status_code == 302
    assert Secret.objects.get(pk=secret.pk).value == "xoxb-2-page"
    assert "Secret SLACK replaced." in admin.get("/w/acme/vault").content.decode()

    assert admin.post("/w/acme/vault/delete", {"name": "SLACK"}).status_code == 302
    assert not Secret.objects.filter(pk=secret.pk).exists()
    assert admin.post("/w/acme/vault/delete", {"name": "SLACK"}).status_code == 404
    acme = people["acme"]
    assert watch.actions() == [
        on_workspace(acme, "secret.created"),
        on_workspace(acme, "secret.replaced"),
        on_workspace(acme, "secret.deleted"),
    ]


@pytest.mark.django_db
def test_a_refused_form_names_the_field_and_never_echoes_the_value(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    response = admin.post("/w/acme/vault/set", {"form": "new", "name": "9lives", "value": "never-echoed-77"})
    assert response.status_code == 400
    html = response.content.decode()
    name = field_errors(html, "name")
    assert name and name[0].startswith("a secret name starts with a letter")
    assert 'id="id_name" maxlength="100" required value="9lives" aria-invalid="true"' in html
    assert "never-echoed-77" not in html
    hosts = admin.post(
        "/w/acme/vault/set",
        {"form": "replace", "name": "STRIPE_KEY", "value": "x-12345", "allowed_hosts": "a b!"},
    )
    assert hosts.status_code == 400
    assert field_errors(hosts.content.decode(), "allowed_hosts")
    assert Secret.objects.get(name="STRIPE_KEY").value == VALUE


@pytest.mark.django_db
def test_a_value_typed_into_the_name_field_comes_back_masked(people: dict[str, Any]) -> None:
    response = as_user(people["admin"]).post("/w/acme/vault/set", {"form": "new", "name": VALUE, "value": ""})
    assert response.status_code == 400
    assert VALUE not in response.content.decode()
    assert "[masked:STRIPE_KEY]" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["operator", "analyst"])
def test_rule_03_forms_answer_403_naming_the_permission_to_non_admins(
    people: dict[str, Any], who: str
) -> None:
    client = as_user(people[who])
    watch = AuditWatch()
    for path, data in (
        ("/w/acme/vault/set", {"form": "new", "name": "PLANTED", "value": "planted-1234"}),
        ("/w/acme/vault/set", {"form": "replace", "name": "STRIPE_KEY", "value": "taken-1234"}),
        ("/w/acme/vault/delete", {"name": "STRIPE_KEY"}),
    ):
        response = client.post(path, data)
        assert response.status_code == 403
        assert "<code>vault:secret:manage</code>" in response.content.decode()
    assert Secret.objects.get(name="STRIPE_KEY").value == VALUE
    assert not Secret.objects.filter(name="PLANTED").exists()
    assert [e.action for e in watch.new()] == ["access.denied"] * 3


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["outsider", "staff"])
def test_rule_09_non_members_get_404(people: dict[str, Any], who: str) -> None:
    client = as_user(people[who])
    for response in (
        client.get("/w/acme/vault"),
        client.post("/w/acme/vault/set", {"form": "new", "name": "PLANTED", "value": "planted-1234"}),
        client.post("/w/acme/vault/delete", {"name": "STRIPE_KEY"}),
    ):
        assert response.status_code == 404
        assert "STRIPE_KEY" not in response.content.decode()
    assert Secret.objects.count() == 1


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(people: dict[str, Any]) -> None:
    response = https_client().get("/w/acme/vault")
    assert response.status_code == 302 and response["Location"].startswith("/login")


@pytest.mark.django_db
def test_the_forms_need_a_csrf_token(people: dict[str, Any]) -> None:
    client = https_client(enforce_csrf_checks=True)
    client.force_login(people["admin"], backend="django.contrib.auth.backends.ModelBackend")
    response = client.post("/w/acme/vault/set", {"form": "new", "name": "X", "value": "no-token-1234"})
    assert response.status_code == 403
    assert not Secret.objects.filter(name="X").exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_admin_sets_and_replaces_a_secret_and_never_sees_it_again(
    https_server: Any, transactional_db: Any
) -> None:
    admin = make_user("grace@example.com", first="Grace", last="Hopper")
    make_workspace("Acme", members={admin: "admin"})
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, admin.email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/")
        page.click("a:has-text('Vault')")
        page.wait_for_url(f"{base}/w/acme/vault")
        page.fill("#id_name", "GITHUB_TOKEN")
        page.fill("#id_value", "ghp_browser-canary-1")
        page.fill("#id_allowed_hosts", "api.github.com")
        page.click("button:has-text('Save secret')")
        page.locator("text=Secret GITHUB_TOKEN created.").wait_for()
        row = page.locator('tr[data-secret="GITHUB_TOKEN"]')
        assert "api.github.com" in row.inner_text()
        assert "ghp_browser-canary-1" not in page.content()
        assert row.locator('input[name="value"]').input_value() == ""

        row.locator('input[name="value"]').fill("ghp_browser-canary-2")
        row.locator("button:has-text('Replace')").click()
        page.locator("text=Secret GITHUB_TOKEN replaced.").wait_for()
        html = page.content()
        assert "ghp_browser-canary-1" not in html and "ghp_browser-canary-2" not in html
    assert Secret.objects.get(name="GITHUB_TOKEN").value == "ghp_browser-canary-2"
    assert AuditEvent.objects.filter(action__in=["secret.created", "secret.replaced"]).count() == 2
