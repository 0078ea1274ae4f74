"""Signing in through an OpenID Connect provider, against a real provider started by the test (Authlib's
server side with its own signing key and JWKS, `oidc_provider`): a good sign-in, an account made for a
trusted domain, every wrong answer a provider could give refused with a message and audited, replay and
a forged state, the second factor and a workspace's "MFA required" still applying; and staff adding
providers on the Platform page, by the API and from the command line, the client secret never shown."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyotp
import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from joserfc.jwk import RSAKey

from causeway.access import identity_providers as providers
from causeway.accounts import mfa, sso
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import IdentityProvider, User
from causeway.accounts.services import reauthenticated
from causeway.accounts.tests.oidc_provider import CLIENT_ID, RunningProvider, follow_sign_in, oidc_provider
from causeway.audit.models import AuditEvent
from testkit.support import https_client, make_user, make_workspace

# Different in every run, so that finding it anywhere means it leaked in this run.
CLIENT_SECRET = f"sso-cnry/{uuid.uuid4().hex[:12]}+s=&k"
CALLBACK = "https://testserver/login/sso/acme/callback"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("occurred_at", "chain", "seq"))


@pytest.fixture(autouse=True)
def public_address(settings: Any) -> None:
    """Causeway's public address is the test client's; the provider runs on http on 127.0.0.1."""
    settings.BASE_URL = "https://testserver"
    settings.SSO_LOOPBACK_HTTP = True
    cache.clear()


@pytest.fixture
def running() -> Iterator[RunningProvider]:
    with oidc_provider(client_secret=CLIENT_SECRET) as found:
        found.provider.client.redirect_uris.append(CALLBACK)
        yield found


@pytest.fixture
def acme(db: Any, running: RunningProvider) -> IdentityProvider:
    return providers.identity_provider_create(
        actor=SystemActor(label="test"),
        slug="acme",
        name="Acme Login",
        issuer=running.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        trusted_domains=["example.com"],
    )


def sign_in(client: Any, *, next_url: str = "", decision: str = "allow") -> tuple[Any, str]:
    """Through the login page's link, the provider's sign-in page, and back; returns Causeway's answer
    to the callback and the callback's address (to replay it)."""
    left = client.get("/login/sso/acme" + (f"?next={next_url}" if next_url else ""))
    assert left.status_code == 302, left.content
    back = follow_sign_in(left["Location"], decision=decision)
    assert back.startswith(CALLBACK), back
    path = back.removeprefix("https://testserver")
    return client.get(path), path


def stepped_up(client: Any) -> None:
    session = client.session
    reauthenticated(session)
    session.save()


def signed_in_as(client: Any) -> str | None:
    answer = client.get("/profile")
    return None if answer.status_code != 200 else answer.context["request"].user.email


@pytest.mark.django_db
def test_oidc_sign_in_makes_an_account_for_a_trusted_domain_with_pkce_state_and_nonce(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    client = https_client()
    login_page = client.get("/login").content.decode()
    assert 'id="sso-acme" href="/login/sso/acme"' in login_page and "Acme Login" in login_page

    answer, _ = sign_in(client, next_url="/profile")
    assert answer.status_code == 302 and answer["Location"] == "/profile"
    assert signed_in_as(client) == "grace@example.com"

    asked = running.provider.authorize_queries[0]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["scope"].split() == ["openid", "email", "profile"]
    assert len(asked["state"]) >= 40 and len(asked["nonce"]) >= 40 and asked["redirect_uri"] == CALLBACK
    exchange = running.provider.token_requests[0]
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) >= 43
    assert "client_secret" not in exchange  # sent in the Authorization header, as the client registered

    user = User.objects.with_email("grace@example.com").get()
    assert (user.first_name, user.last_name) == ("Grace", "Hopper")
    assert not user.has_usable_password()
    created = events("user.created")[-1]
    assert created.details == {"user_type": "standard", "via": "oidc", "provider": "acme"}
    assert events("auth.login")[-1].details == {"via": "acme"}


@pytest.mark.django_db
def test_oidc_sign_in_reaches_an_existing_account_by_email_in_any_case(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    existing = make_user("grace@example.com", first="Grace", last="Brewster")
    running.provider.person["email"] = "Grace@Example.COM"
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert signed_in_as(client) == "grace@example.com"
    assert User.objects.count() == 1 and existing.has_usable_password()
    assert not events("user.created")[1:]


REFUSALS = {
    "audience": ("meant for another application", "audience"),
    "expired": ("sign-in has expired", "expired"),
    "nonce": ("does not match the one this browser started", "nonce"),
    "issuer": ("names another issuer", "issuer"),
    "unsigned": ("not signed by its keys", "signature:"),
    "tampered": ("not signed by its keys", "signature:"),
    "other_key": ("not signed by its keys", "signature:"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("misbehaviour", sorted(REFUSALS))
def test_a_wrong_id_token_is_refused_with_a_message_and_audited(
    running: RunningProvider, acme: IdentityProvider, misbehaviour: str
) -> None:
    running.provider.misbehave = misbehaviour
    client = https_client()
    answer, _ = sign_in(client)
    message, reason = REFUSALS[misbehaviour]
    page = answer.content.decode()
    assert answer.status_code == 400 and 'id="sso-refused"' in page and message in page
    assert signed_in_as(client) is None
    assert not User.objects.with_email("grace@example.com").exists()
    failed = events("auth.sso_failed")
    assert len(failed) == 1 and failed[0].details["reason"].startswith(reason)
    assert failed[0].target_id == str(acme.id) and failed[0].outcome == "failure"
    assert running.provider.id_tokens[0] not in page


@pytest.mark.django_db
def test_a_replayed_callback_and_a_forged_state_are_refused(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    client = https_client()
    answer, callback = sign_in(client)
    assert answer.status_code == 302
    client.post("/logout")
    # The same answer from the provider again, in the same browser: its sign-in was spent.
    again = client.get(callback)
    assert again.status_code == 400 and "was not started in this browser" in again.content.decode()

    # A browser that started its own sign-in, handed another's code with a state it did not make.
    victim = https_client()
    left = victim.get("/login/sso/acme")
    code = dict(parse_qsl(urlsplit(follow_sign_in(left["Location"])).query))["code"]
    attacker = https_client()
    attacker.get("/login/sso/acme")
    forged = attacker.get(f"/login/sso/acme/callback?code={code}&state=guessed")
    assert (
        forged.status_code == 400 and "does not match the one this browser started" in forged.content.decode()
    )
    assert signed_in_as(attacker) is None

    # A spent code, brought back with a fresh sign-in's own state: the provider honours a code once.
    used = dict(parse_qsl(urlsplit(callback).query))["code"]
    fresh = https_client()
    state = dict(parse_qsl(urlsplit(fresh.get("/login/sso/acme")["Location"]).query))["state"]
    spent = fresh.get(f"/login/sso/acme/callback?code={used}&state={state}")
    assert spent.status_code == 400 and "refused the sign-in code" in spent.content.decode()
    reasons = [event.details["reason"] for event in events("auth.sso_failed")]
    assert reasons == ["no_pending", "state", "token_refused"]


@pytest.mark.django_db
def test_an_address_outside_the_trusted_domains_is_refused_and_gets_no_account(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    running.provider.person["email"] = "mallory@elsewhere.org"
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 400
    assert "Acme Login is not trusted for addresses at elsewhere.org" in answer.content.decode()
    assert not User.objects.with_email("mallory@elsewhere.org").exists()
    assert events("auth.sso_failed")[0].details["reason"] == "domain_not_trusted"

    running.provider.person.update(email="grace@example.com", email_verified=False)
    answer, _ = sign_in(https_client())
    assert "has not verified this email address" in answer.content.decode()

    # A provider that does not say the address is verified has not verified it.
    del running.provider.person["email_verified"]
    answer, _ = sign_in(https_client())
    assert "has not verified this email address" in answer.content.decode()
    assert not User.objects.with_email("grace@example.com").exists()


@pytest.mark.django_db
def test_the_person_declining_at_the_provider_is_refused(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    client = https_client()
    answer, _ = sign_in(client, decision="deny")
    assert answer.status_code == 400 and "did not sign you in" in answer.content.decode()
    assert events("auth.sso_failed")[0].details["reason"] == "provider:access_denied"


@pytest.mark.django_db
def test_a_second_factor_is_still_asked_after_the_provider(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    user = make_user("grace@example.com", first="Grace", last="Hopper")
    enrolment = mfa.totp_enrol_begin(actor=user)
    mfa.totp_enrol_confirm(actor=user, code=pyotp.TOTP(enrolment.secret).now())
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 302 and answer["Location"] == "/login/second-factor"
    assert signed_in_as(client) is None
    # The next step's code: the one that confirmed the app may still be current, and is spent.
    code = pyotp.TOTP(enrolment.secret).at(time.time() + 30)
    done = client.post("/login/second-factor", {"code": code})
    assert done.status_code == 302 and signed_in_as(client) == "grace@example.com"
    assert events("auth.login")[-1].details == {"second_factor": "totp", "via": "acme"}


@pytest.mark.django_db
def test_a_workspace_requiring_mfa_still_sends_an_sso_member_to_set_it_up(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    user = make_user("grace@example.com", first="Grace", last="Hopper")
    workspace = make_workspace("Acme", members={user: "analyst"})
    workspace.mfa_required = True
    workspace.save(update_fields=["mfa_required"])
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 302
    refused = client.get(f"/w/{workspace.slug}/")
    assert refused.status_code == 302 and refused["Location"] == "/profile/two-factor"


@pytest.mark.django_db
def test_a_disabled_or_unknown_provider_offers_no_sign_in(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    providers.identity_provider_update(actor=SystemActor(label="test"), provider=acme, enabled=False)
    client = https_client()
    assert client.get("/login/sso/acme").status_code == 404
    assert client.get("/login/sso/nobody").status_code == 404
    assert 'id="sso-acme"' not in client.get("/login").content.decode()


@pytest.mark.django_db
def test_staff_add_and_remove_a_provider_on_the_platform_page_and_the_secret_never_shows(
    running: RunningProvider,
) -> None:
    staff = make_user("root@example.com", staff=True)
    client = https_client()
    client.force_login(staff)
    stepped_up(client)
    form = {
        "slug": "acme",
        "name": "Acme Login",
        "issuer": running.url + "/",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "trusted_domains": "example.com, Example.org",
    }
    wrong = client.post(
        "/platform/identity-providers", {**form, "issuer": "ftp://x", "trusted_domains": "not a domain"}
    )
    assert wrong.status_code == 400
    shown = wrong.content.decode()
    assert (
        "Issuer must be an https URL" in shown
        and "is not a domain name" in shown
        and CLIENT_SECRET not in shown
    )
    added = client.post("/platform/identity-providers", form)
    assert added.status_code == 302
    provider = IdentityProvider.objects.get(slug="acme")
    assert provider.issuer == running.url and provider.trusted_domains == ["example.com", "example.org"]
    assert provider.scopes == ["email", "profile"] and provider.client_secret == CLIENT_SECRET
    raw = IdentityProvider.objects.filter(pk=provider.pk).values_list("client_secret", flat=True).get()
    assert CLIENT_SECRET.encode() not in bytes(raw)
    page = client.get("/platform").content.decode()
    assert "/login/sso/acme" in page and CLIENT_SECRET not in page
    assert client.post("/platform/identity-providers", form).status_code == 400  # the slug is taken

    assert client.post(f"/platform/identity-providers/{provider.pk}/delete").status_code == 302
    assert not IdentityProvider.objects.exists()
    actions = [
        e.action
        for e in AuditEvent.objects.filter(target_type="identity_provider").order_by(
            "occurred_at", "chain", "seq"
        )
    ]
    assert actions == ["identity_provider.created", "identity_provider.deleted"]
    assert all(CLIENT_SECRET not in str(e.details) for e in AuditEvent.objects.all())


@pytest.mark.django_db
def test_staff_manage_providers_by_the_api_and_the_secret_goes_in_only(running: RunningProvider) -> None:
    staff = make_user("root@example.com", staff=True)
    client = https_client()
    client.force_login(staff)
    stepped_up(client)
    body = {
        "slug": "acme",
        "name": "Acme Login",
        "issuer": running.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "trusted_domains": ["example.com"],
    }
    created = client.post("/api/v1/platform/identity-providers", body, content_type="application/json")
    assert created.status_code == 201, created.content
    shown = created.json()
    assert "client_secret" not in shown and CLIENT_SECRET not in created.content.decode()
    assert (
        client.post("/api/v1/platform/identity-providers", body, content_type="application/json").status_code
        == 409
    )
    patched = client.patch(
        f"/api/v1/platform/identity-providers/{shown['id']}",
        {"enabled": False, "client_secret": "rotated-secret"},
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert IdentityProvider.objects.get().client_secret == "rotated-secret"
    listed = client.get("/api/v1/platform/identity-providers").json()
    assert [p["slug"] for p in listed] == ["acme"]
    assert client.delete(f"/api/v1/platform/identity-providers/{shown['id']}").status_code == 204
    assert client.delete(f"/api/v1/platform/identity-providers/{shown['id']}").status_code == 404


@pytest.mark.django_db
def test_the_command_line_adds_lists_updates_and_removes_providers(
    running: RunningProvider, tmp_path: Any
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    out = io.StringIO()
    call_command(
        "sso",
        "add",
        "acme",
        "--name",
        "Acme Login",
        "--issuer",
        running.url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        str(secret_file),
        "--trusted-domains",
        "example.com,example.org",
        stdout=out,
    )
    assert "people sign in at /login/sso/acme" in out.getvalue()
    assert IdentityProvider.objects.get().client_secret == CLIENT_SECRET
    call_command(
        "sso",
        "update",
        "acme",
        "--enabled",
        "off",
        "--client-secret-file",
        "-",
        stdin=io.StringIO("new-one\n"),
        stdout=out,
    )
    listed = io.StringIO()
    call_command("sso", "list", stdout=listed)
    assert listed.getvalue().startswith(
        f"acme\tAcme Login\t{running.url}\t{CLIENT_ID}\texample.com,example.org\tdisabled"
    )
    assert CLIENT_SECRET not in listed.getvalue() and "new-one" not in listed.getvalue()
    with pytest.raises(CommandError, match="issuer: Issuer must be an https URL"):
        call_command("sso", "update", "acme", "--issuer", "http://example.com", stdout=out)
    with pytest.raises(CommandError, match="no provider 'nobody'"):
        call_command("sso", "remove", "nobody", stdout=out)
    call_command("sso", "remove", "acme", stdout=out)
    assert not IdentityProvider.objects.exists()
    assert events("identity_provider.created")[0].actor_type == "system"


@pytest.mark.django_db
def test_the_callback_address_is_the_public_one_whatever_host_the_request_names(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    client = https_client()
    left = client.get("/login/sso/acme", HTTP_HOST="127.0.0.1:4444")
    assert left.status_code == 302
    assert dict(parse_qsl(urlsplit(left["Location"]).query))["redirect_uri"] == CALLBACK
    back = follow_sign_in(left["Location"])
    assert back.startswith(CALLBACK)
    answer = client.get(back.removeprefix("https://testserver"), HTTP_HOST="127.0.0.1:4444")
    assert answer.status_code == 302 and signed_in_as(client) == "grace@example.com"


@pytest.mark.django_db
def test_two_first_sign_ins_of_one_person_at_once_reach_one_account(
    running: RunningProvider, acme: IdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other sign-in makes the account between this one's look-up and its insert."""
    looked_up = User.objects.with_email
    raced_once: list[str] = []

    def raced(email: str) -> Any:
        if raced_once:
            return looked_up(email)
        raced_once.append(email)
        with transaction.atomic():
            make_user(email, first="Grace", last="Hopper")
        return User.objects.none()

    monkeypatch.setattr(User.objects, "with_email", raced)
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 302, answer.content
    assert signed_in_as(client) == "grace@example.com"
    assert User.objects.count() == 1
    assert events("user.created") == [] and events("auth.sso_failed") == []


@pytest.mark.django_db
def test_a_provider_must_be_https_unless_loopback_http_is_allowed(
    running: RunningProvider, acme: IdentityProvider, settings: Any
) -> None:
    # A document naming a plain-http endpoint elsewhere is refused before anything is sent there.
    running.provider.discovery_changes = {"token_endpoint": "http://login.example.com/token"}
    client = https_client()
    refused = client.get("/login/sso/acme")
    assert refused.status_code == 502 and "token_endpoint is not an https address" in refused.content.decode()
    assert events("auth.sso_failed")[-1].details["reason"] == "provider_not_https"
    running.provider.discovery_changes = {}
    running.provider.documents_read.clear()
    cache.clear()

    # Without the development setting, not even this machine's own provider is spoken to over http.
    settings.SSO_LOOPBACK_HTTP = False
    answer = client.get("/login/sso/acme")
    assert answer.status_code == 502 and "not at an https address" in answer.content.decode()
    assert running.provider.documents_read == []
    with pytest.raises(ValidationError) as refused_save:
        providers.identity_provider_update(
            actor=SystemActor(label="test"), provider=acme, issuer="http://127.0.0.1:9/other"
        )
    assert "Issuer must be an https URL" in refused_save.value.message_dict["issuer"][0]
    staff = make_user("root@example.com", staff=True)
    page = https_client()
    page.force_login(staff)
    stepped_up(page)
    form = {
        "slug": "local",
        "name": "Local",
        "issuer": running.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "trusted_domains": "example.com",
    }
    shown = page.post("/platform/identity-providers", form)
    assert shown.status_code == 400 and "Issuer must be an https URL" in shown.content.decode()
    assert not IdentityProvider.objects.filter(slug="local").exists()


@pytest.mark.django_db
def test_the_discovery_document_and_keys_are_read_once_and_again_when_the_keys_rotate(
    running: RunningProvider, acme: IdentityProvider
) -> None:
    answer, _ = sign_in(https_client())
    assert answer.status_code == 302
    assert running.provider.documents_read == ["/.well-known/openid-configuration", "/jwks"]
    answer, _ = sign_in(https_client())
    assert answer.status_code == 302
    assert len(running.provider.documents_read) == 2

    # The provider rotates its key: the kept keys do not verify its token, so they are read again.
    running.provider.key = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1", "use": "sig"})
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 302 and signed_in_as(client) == "grace@example.com"
    assert running.provider.documents_read[2:] == ["/jwks"]

    # Kept for DOCUMENT_SECONDS at most.
    with time_machine.travel(time.time() + sso.DOCUMENT_SECONDS + 1):
        left = https_client().get("/login/sso/acme")
    assert left.status_code == 302
    assert running.provider.documents_read[3:] == ["/.well-known/openid-configuration"]


@pytest.mark.django_db
def test_leaving_for_the_provider_is_throttled_like_the_password_login(
    running: RunningProvider, acme: IdentityProvider, settings: Any
) -> None:
    settings.THROTTLE_SIGN_IN_FAILURES = 3
    settings.THROTTLE_INTERVAL_SECONDS = 60
    with time_machine.travel(datetime(2031, 5, 4, 12, 0, 15, tzinfo=UTC), tick=False):
        attacker = https_client(REMOTE_ADDR="203.0.113.9")
        for _ in range(3):
            assert attacker.get("/login/sso/acme/callback?state=x&code=y").status_code == 400
        for path in ("/login/sso/acme", "/login/sso/acme/callback?state=x&code=y"):
            refused = attacker.get(path)
            page = refused.content.decode()
            assert refused.status_code == 429 and refused["Retry-After"] == "45", path
            assert "Too many failed sign-ins from this address" in page and 'id="sso-acme"' in page
        assert running.provider.documents_read == []
        # Another address is served as ever.
        assert https_client(REMOTE_ADDR="198.51.100.7").get("/login/sso/acme").status_code == 302
