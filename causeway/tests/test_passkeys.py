"""Passkeys as a second factor, against a software authenticator built to the WebAuthn standard: added
after a step-up, used at sign-in and step-up; wrong origin, wrong relying party, replayed challenge,
a counter that does not go up, another user's key; removal, the API, and an operator's removal."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from importlib import import_module
from typing import Any

import pyotp
import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from causeway.accounts import mfa, passkeys, stepup
from causeway.accounts.models import Passkey, User
from causeway.tests.test_mfa import START, events, password_step
from causeway.vault.tests.authenticator import SoftAuthenticator
from causeway.workspaces import tokens
from testkit.support import field_errors, https_client, make_user, make_workspace

RP_ID, ORIGIN = "localhost", "https://localhost:8443"


def new_session() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore()


def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)


def add_passkey(user: User, device: SoftAuthenticator, name: str = "Laptop") -> Passkey:
    session = new_session()
    options = passkeys.registration_options(session=session, user=user)
    return passkeys.passkey_register(
        actor=user, session=session, credential=device.register(options), name=name
    )


def check(user: User, answer: Any, purpose: str = passkeys.SIGN_IN) -> mfa.Verdict:
    """Draw a challenge for the user, let `answer(options)` reply to it, and check the reply."""
    session = new_session()
    options = passkeys.authentication_options(session=session, user=user, purpose=purpose)
    assert options is not None
    return passkeys.passkey_check(user=user, session=session, credential=answer(options), purpose=purpose)


def sign_in_with_passkey(client: Any, user: User, device: SoftAuthenticator) -> Any:
    """The password, then the passkey on the second-factor page; returns the last answer."""
    assert password_step(client, user.email).status_code == 302
    page = client.get("/login/second-factor").content.decode()
    answer = device.assert_(page_options(page, "passkey-sign-in-options"))
    return client.post("/login/second-factor/passkey", {"credential": answer})


def page_options(page: str, element: str) -> dict[str, Any]:
    found = re.search(rf'<script id="{element}" type="application/json">(.*?)</script>', page, re.S)
    assert found is not None, f"{element} is not on the page"
    loaded: dict[str, Any] = json.loads(found[1])
    return loaded


@pytest.fixture
def ada(db: Any) -> User:
    user: User = make_user("ada@example.com")
    return user


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


# --- the ceremonies, at the service -------------------------------------------------------------


@pytest.mark.django_db
def test_good_registration_then_assertion_signs_in_and_raises_the_counter(ada: User) -> None:
    device = authenticator()
    session = new_session()
    options = passkeys.registration_options(session=session, user=ada)
    # The relying party is the configured base URL, and user verification is asked for, not required.
    assert options["rp"] == {"id": RP_ID, "name": "Causeway"}
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none" and options["excludeCredentials"] == []
    key = passkeys.passkey_register(
        actor=ada, session=session, credential=device.register(options), name="  My  phone "
    )
    assert key.name == "My phone" and key.transports == ["internal"] and key.sign_count == 0
    assert mfa.mfa_enrolled(user=ada) and not mfa.totp_enrolled(user=ada)
    assert events("mfa.passkey_enrolled")[0].details == {"passkey": str(key.pk), "name": "My phone"}

    # The same device offered again is excluded by the next registration's options.
    again = passkeys.registration_options(session=new_session(), user=ada)
    assert [d["id"] for d in again["excludeCredentials"]] == [key.credential_id]

    verdict = check(ada, device.assert_)
    assert verdict.passed and verdict.method == "passkey"
    key.refresh_from_db()
    assert key.sign_count == 1 and key.last_used_at is not None
    assert events("mfa.passkey_used")[0].details["purpose"] == "sign_in"
    assert not events("mfa.failed")


@pytest.mark.django_db
def test_registration_from_another_origin_or_relying_party_is_refused_and_recorded(ada: User) -> None:
    for wrong in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
        session = new_session()
        options = passkeys.registration_options(session=session, user=ada)
        with pytest.raises(ValidationError) as refused:
            passkeys.passkey_register(
                actor=ada, session=session, credential=authenticator().register(options, **wrong), name="Key"
            )
        assert refused.value.message_dict == {"credential": [passkeys.NOT_ADDED]}
    assert not Passkey.objects.exists()
    reasons = [e.details["reason"] for e in events("mfa.passkey_enrolment_failed")]
    assert len(reasons) == 2 and "origin" in reasons[0].lower() and "rp id" in reasons[1].lower()


@pytest.mark.django_db
def test_registration_challenge_is_single_use_and_lives_five_minutes(ada: User, clock: Any) -> None:
    device = authenticator()
    session = new_session()
    options = passkeys.registration_options(session=session, user=ada)
    answer = device.register(options)
    # A wrong name is refused before the challenge is spent.
    with pytest.raises(ValidationError) as unnamed:
        passkeys.passkey_register(actor=ada, session=session, credential=answer, name="   ")
    assert list(unnamed.value.message_dict) == ["name"]
    passkeys.passkey_register(actor=ada, session=session, credential=answer, name="Key")
    with pytest.raises(ValidationError) as replayed:
        passkeys.passkey_register(actor=ada, session=session, credential=answer, name="Key")
    assert replayed.value.message_dict == {"credential": [passkeys.EXPIRED]}

    late = new_session()
    options = passkeys.registration_options(session=late, user=ada)
    clock.shift(timedelta(minutes=5, seconds=1))
    with pytest.raises(ValidationError) as expired:
        passkeys.passkey_register(
            actor=ada, session=late, credential=authenticator().register(options), name="Two"
        )
    assert expired.value.message_dict == {"credential": [passkeys.EXPIRED]}
    assert Passkey.objects.count() == 1


@pytest.mark.django_db
def test_the_same_credential_cannot_belong_to_two_accounts(ada: User) -> None:
    bob = make_user("bob@example.com", first="Bob")
    device = authenticator()
    add_passkey(ada, device)
    with pytest.raises(ValidationError) as taken:
        add_passkey(bob, device)
    assert taken.value.message_dict == {"credential": ["Passkey is already added to an account."]}


@pytest.mark.django_db
def test_assertion_from_another_origin_or_relying_party_is_refused(ada: User) -> None:
    device = authenticator()
    add_passkey(ada, device)
    for wrong in ({"origin": "https://localhost:9999"}, {"rp_id": "example.com"}):
        verdict = check(ada, lambda options, wrong=wrong: device.assert_(options, **wrong))
        assert not verdict.passed and verdict.message == passkeys.REFUSED
    failed = events("mfa.failed")
    assert [e.details["method"] for e in failed] == ["passkey", "passkey"]
    assert "origin" in failed[0].details["reason"].lower() and "rp id" in failed[1].details["reason"].lower()
    assert Passkey.objects.get().last_used_at is None


@pytest.mark.django_db
def test_a_replayed_assertion_or_challenge_is_refused(ada: User) -> None:
    device = authenticator()
    add_passkey(ada, device)
    session = new_session()
    options = passkeys.authentication_options(session=session, user=ada, purpose=passkeys.SIGN_IN)
    assert options is not None
    answer = device.assert_(options)
    assert passkeys.passkey_check(user=ada, session=session, credential=answer, purpose="sign_in").passed
    # The challenge was taken out at the first answer: the same answer again finds none.
    again = passkeys.passkey_check(user=ada, session=session, credential=answer, purpose="sign_in")
    assert not again.passed and again.message == passkeys.EXPIRED
    # Nor is an old answer good for a new challenge, even with the counter raised.
    passkeys.authentication_options(session=session, user=ada, purpose=passkeys.SIGN_IN)
    stale = passkeys.passkey_check(
        user=ada, session=session, credential=device.assert_(options), purpose="sign_in"
    )
    assert not stale.passed and stale.message == passkeys.REFUSED
    # A challenge drawn for signing in is not one for a step-up.
    passkeys.authentication_options(session=session, user=ada, purpose=passkeys.SIGN_IN)
    other = passkeys.passkey_check(
        user=ada, session=session, credential=device.assert_(options), purpose="step_up"
    )
    assert not other.passed
    assert [e.details["reason"] for e in events("mfa.failed")][::2] == ["no_challenge", "no_challenge"]


@pytest.mark.django_db
def test_a_counter_that_does_not_go_up_is_refused_as_a_copy(ada: User) -> None:
    device = authenticator()
    key = add_passkey(ada, device)
    assert check(ada, lambda options: device.assert_(options, count=7)).passed
    for count in (7, 3):
        verdict = check(ada, lambda options, count=count: device.assert_(options, count=count))
        assert not verdict.passed and verdict.message == passkeys.CLONED
    key.refresh_from_db()
    assert key.sign_count == 7
    cloned = events("mfa.passkey_cloned")
    assert len(cloned) == 2 and cloned[0].outcome == "failure" and cloned[0].details["reason"] == "sign_count"
    assert check(ada, lambda options: device.assert_(options, count=8)).passed


@pytest.mark.django_db
def test_another_users_passkey_does_not_sign_in_for_this_one(ada: User) -> None:
    bob = make_user("bob@example.com", first="Bob")
    add_passkey(ada, authenticator())
    bobs = authenticator()
    add_passkey(bob, bobs)
    verdict = check(ada, lambda options: bobs.assert_(options, user_handle=bob.pk.bytes))
    assert not verdict.passed and verdict.message == passkeys.REFUSED
    assert events("mfa.failed")[0].details["reason"] == "unknown_credential"
    assert passkeys.passkey_of(user=ada, passkey_id=Passkey.objects.get(user=bob).pk) is None


@pytest.mark.django_db
def test_malformed_answers_are_refused_not_raised(ada: User) -> None:
    add_passkey(ada, authenticator())
    for garbage in ("", "{", "[]", '{"id": 1}', json.dumps({"id": "AA", "rawId": "AA", "response": {}})):
        assert not check(ada, lambda options, garbage=garbage: garbage).passed
    session = new_session()
    passkeys.registration_options(session=session, user=ada)
    with pytest.raises(ValidationError):
        passkeys.passkey_register(actor=ada, session=session, credential='{"response": 5}', name="Key")


# --- pages: adding after a step-up, signing in, step-up, removing ------------------------------


@pytest.mark.django_db
def test_page_adds_a_passkey_then_sign_in_takes_it_instead_of_a_code(ada: User, clock: Any) -> None:
    device = authenticator()
    client = https_client()
    assert password_step(client, ada.email).status_code == 302
    page = client.get("/profile/two-factor").content.decode()
    options = page_options(page, "passkey-create-options")
    unnamed = client.post(
        "/profile/two-factor/passkeys", {"name": "", "credential": device.register(options)}
    )
    assert unnamed.status_code == 400 and field_errors(unnamed.content.decode(), "name")
    options = page_options(unnamed.content.decode(), "passkey-create-options")
    added = client.post(
        "/profile/two-factor/passkeys", {"name": "Laptop", "credential": device.register(options)}
    )
    assert added.status_code == 302 and added["Location"] == "/profile/two-factor"
    listed = client.get("/profile/two-factor").content.decode()
    assert 'id="passkeys"' in listed and "Laptop" in listed

    # Eleven minutes on, the proof of identity is stale: the page asks for a step-up before adding.
    clock.shift(timedelta(minutes=11))
    stale = client.get("/profile/two-factor").content.decode()
    assert 'id="passkey-step-up"' in stale and "passkey-create-options" not in stale
    refused = client.post("/profile/two-factor/passkeys", {"name": "Other", "credential": "{}"})
    assert refused.status_code == 302 and refused["Location"].startswith("/reauthenticate")

    client.post("/logout")
    asked = password_step(client, ada.email)
    assert asked.status_code == 302 and asked["Location"] == "/login/second-factor"
    second = client.get("/login/second-factor").content.decode()
    options = page_options(second, "passkey-sign-in-options")
    assert [d["id"] for d in options["allowCredentials"]] == [Passkey.objects.get().credential_id]
    # Without an authenticator app the page offers no code form.
    assert 'id="mfa-form"' not in second
    wrong = client.post(
        "/login/second-factor/passkey", {"credential": device.assert_(options, origin="https://x.example")}
    )
    assert wrong.status_code == 400
    assert field_errors(wrong.content.decode(), "credential") == [passkeys.REFUSED]
    options = page_options(wrong.content.decode(), "passkey-sign-in-options")
    signed = client.post("/login/second-factor/passkey", {"credential": device.assert_(options)})
    assert signed.status_code == 302 and signed["Location"] == "/"
    assert client.get("/").status_code == 200
    assert events("auth.login")[-1].details == {"second_factor": "passkey"}


@pytest.mark.django_db
def test_passkey_sign_in_without_the_password_step_goes_back_to_login(ada: User) -> None:
    add_passkey(ada, authenticator())
    answer = https_client().post("/login/second-factor/passkey", {"credential": "{}"})
    assert answer.status_code == 302 and answer["Location"] == "/login"


@pytest.mark.django_db
def test_passkey_failures_count_towards_the_sign_in_throttle(ada: User, clock: Any, settings: Any) -> None:
    settings.THROTTLE_SIGN_IN_FAILURES = 3
    device = authenticator()
    add_passkey(ada, device)
    client = https_client()
    password_step(client, ada.email)
    for _ in range(3):
        page = client.get("/login/second-factor").content.decode()
        options = page_options(page, "passkey-sign-in-options")
        bad = client.post(
            "/login/second-factor/passkey", {"credential": device.assert_(options, rp_id="x.example")}
        )
        assert bad.status_code == 400
    options = page_options(client.get("/login/second-factor").content.decode(), "passkey-sign-in-options")
    throttled = client.post("/login/second-factor/passkey", {"credential": device.assert_(options)})
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    # The second-factor page says why, as the login page does: the one sign-in allowance refused it.
    assert f"Try again in {throttled['Retry-After']} seconds" in throttled.content.decode()
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_step_up_accepts_a_passkey(ada: User, clock: Any) -> None:
    device = authenticator()
    add_passkey(ada, device)
    assert check(ada, device.assert_, purpose=passkeys.STEP_UP).passed
    session = new_session()
    options = passkeys.authentication_options(session=session, user=ada, purpose=passkeys.STEP_UP)
    assert options is not None
    method = stepup.reauthenticate(user=ada, credential=device.assert_(options), session=session)
    assert method == "passkey" and events("auth.reauthenticated")[-1].details == {"method": "passkey"}
    with pytest.raises(ValidationError) as replayed:
        stepup.reauthenticate(user=ada, credential=device.assert_(options), session=session)
    assert replayed.value.message_dict == {"credential": [passkeys.EXPIRED]}

    client = https_client()
    assert sign_in_with_passkey(client, ada, device).status_code == 302
    clock.shift(timedelta(minutes=11))
    shown = client.get("/reauthenticate?next=/profile/two-factor").content.decode()
    stepped = client.post(
        "/reauthenticate",
        {
            "next": "/profile/two-factor",
            "credential": device.assert_(page_options(shown, "passkey-step-up-options")),
        },
    )
    assert stepped.status_code == 302 and stepped["Location"] == "/profile/two-factor"
    assert "passkey-create-options" in client.get("/profile/two-factor").content.decode()


@pytest.mark.django_db
def test_removing_asks_for_step_up_and_keeps_the_last_factor_a_workspace_requires(
    ada: User, clock: Any
) -> None:
    device = authenticator()
    first = add_passkey(ada, device)
    workspace = make_workspace("Acme", members={ada: "admin"})
    workspace.mfa_required = True
    workspace.save(update_fields=["mfa_required"])
    client = https_client()
    assert sign_in_with_passkey(client, ada, device).status_code == 302
    # The passkey satisfies the workspace's requirement.
    assert client.get(f"/w/{workspace.slug}/").status_code == 200

    kept = client.post(f"/profile/two-factor/passkeys/{first.pk}/remove")
    assert kept.status_code == 409 and "workspace Acme requires" in kept.content.decode()
    second = add_passkey(ada, authenticator(), name="Phone")
    removed = client.post(f"/profile/two-factor/passkeys/{first.pk}/remove")
    assert removed.status_code == 302
    assert list(Passkey.objects.values_list("name", flat=True)) == ["Phone"]
    assert events("mfa.passkey_removed")[0].details == {"passkey": str(first.pk), "name": "Laptop"}
    # Another user's passkey, or one already gone, is not found.
    assert client.post(f"/profile/two-factor/passkeys/{first.pk}/remove").status_code == 404

    clock.shift(timedelta(minutes=11))
    stale = client.post(f"/profile/two-factor/passkeys/{second.pk}/remove")
    assert stale.status_code == 302 and stale["Location"].startswith("/reauthenticate")
    assert Passkey.objects.filter(pk=second.pk).exists()


# --- the API and the operator's shell -------------------------------------------------------------


@pytest.mark.django_db
def test_api_lists_and_removes_passkeys(ada: User) -> None:
    key = add_passkey(ada, authenticator())
    _, secret = tokens.token_create(actor=ada, name="cli", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    [listed] = api.get("/api/v1/me/mfa/passkeys").json()
    assert listed["id"] == str(key.pk) and listed["name"] == "Laptop" and listed["transports"] == ["internal"]
    assert "public_key" not in listed and "credential_id" not in listed
    assert api.get("/api/v1/me/mfa").json()["enrolled"] is True

    bob = make_user("bob@example.com", first="Bob")
    _, bobs = tokens.token_create(actor=bob, name="cli", expires_in_days=1)
    other = https_client(HTTP_AUTHORIZATION=f"Bearer {bobs}")
    assert other.get("/api/v1/me/mfa/passkeys").json() == []
    assert other.delete(f"/api/v1/me/mfa/passkeys/{key.pk}").status_code == 404
    assert api.delete("/api/v1/me/mfa/passkeys/not-an-id").status_code in (404, 422)
    assert api.delete(f"/api/v1/me/mfa/passkeys/{key.pk}").status_code == 204
    assert not Passkey.objects.exists() and not mfa.mfa_enrolled(user=ada)


@pytest.mark.django_db
def test_cli_lists_and_removes_a_users_passkey_and_ends_their_sessions(ada: User) -> None:
    device = authenticator()
    key = add_passkey(ada, device)
    client = https_client()
    assert sign_in_with_passkey(client, ada, device).status_code == 302
    assert client.get("/").status_code == 200

    out = io.StringIO()
    call_command("users", "passkeys", ada.email, stdout=out)
    assert re.search(rf"{key.pk}  Laptop  added .* last used \d{{4}}-", out.getvalue())
    with pytest.raises(CommandError, match="is not an id"):
        call_command("users", "passkey-remove", ada.email, "nope")
    removed = io.StringIO()
    call_command("users", "passkey-remove", ada.email, str(key.pk), stdout=removed)
    assert "Removed passkey Laptop of ada@example.com; ended 1 session(s)." in removed.getvalue()
    assert client.get("/").status_code == 302
    [event] = events("mfa.passkey_removed")
    assert event.actor_type == "system" and event.details["sessions_ended"] == 1
    with pytest.raises(CommandError, match="is not one of"):
        call_command("users", "passkey-remove", ada.email, str(key.pk))
    listed = io.StringIO()
    call_command("users", "passkeys", ada.email, stdout=listed)
    assert "has no passkeys" in listed.getvalue()


@pytest.mark.django_db
def test_operator_reset_removes_passkeys_too(ada: User) -> None:
    add_passkey(ada, authenticator())
    out = io.StringIO()
    call_command("users", "mfa-reset", ada.email, stdout=out)
    assert "Removed the second factor" in out.getvalue()
    assert not Passkey.objects.exists() and not mfa.mfa_enrolled(user=ada)


@pytest.mark.django_db
def test_a_passkey_is_the_second_factor_after_the_identity_provider(settings: Any) -> None:
    from django.core.cache import cache

    from causeway.access import identity_providers
    from causeway.accounts.actors import SystemActor
    from causeway.accounts.tests.oidc_provider import CLIENT_ID, oidc_provider
    from causeway.tests.test_sso_oidc import CALLBACK, CLIENT_SECRET, sign_in

    # Causeway's public address is the test client's; the local provider runs on http on 127.0.0.1.
    settings.BASE_URL, settings.SSO_LOOPBACK_HTTP = "https://testserver", True
    cache.clear()
    # The person the local provider signs in, with a passkey made for that address.
    grace = make_user("grace@example.com", first="Grace", last="Hopper")
    device = SoftAuthenticator(rp_id="testserver", origin="https://testserver")
    add_passkey(grace, device)
    with oidc_provider(client_secret=CLIENT_SECRET) as running:
        running.provider.client.redirect_uris.append(CALLBACK)
        identity_providers.identity_provider_create(
            actor=SystemActor(label="test"),
            slug="acme",
            name="Acme Login",
            issuer=running.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            trusted_domains=["example.com"],
        )
        client = https_client()
        answer, _ = sign_in(client)
        assert answer.status_code == 302 and answer["Location"] == "/login/second-factor"
        assert client.get("/").status_code == 302
        page = client.get("/login/second-factor").content.decode()
        done = client.post(
            "/login/second-factor/passkey",
            {"credential": device.assert_(page_options(page, "passkey-sign-in-options"))},
        )
    assert done.status_code == 302 and client.get("/").status_code == 200
    assert events("auth.login")[-1].details == {"second_factor": "passkey", "via": "acme"}


@pytest.mark.django_db
def test_a_passkey_satisfies_the_platforms_requirement_of_staff_and_stays_while_it_is_the_last(
    settings: Any, clock: Any
) -> None:
    settings.STAFF_MFA_REQUIRED = True
    grace = make_user("grace@example.com", staff=True, first="Grace", last="Hopper")
    client = https_client()
    client.force_login(grace)
    assert client.get("/platform").status_code == 302
    key = add_passkey(grace, authenticator())
    assert client.get("/platform").status_code == 200

    # With a passkey kept, the authenticator app may be turned off although a factor is required...
    enrolment = mfa.totp_enrol_begin(actor=grace)
    mfa.totp_enrol_confirm(actor=grace, code=pyotp.TOTP(enrolment.secret).now())
    clock.shift(timedelta(seconds=30))
    mfa.mfa_disable(actor=grace, code=pyotp.TOTP(enrolment.secret).now())
    assert not mfa.totp_enrolled(user=grace) and mfa.mfa_enrolled(user=grace)
    # ... but the last passkey stays.
    with pytest.raises(ValidationError) as kept:
        passkeys.passkey_remove(actor=grace, passkey=key)
    assert kept.value.messages == [
        "Passkey: the platform requires two-factor authentication of its staff; "
        "add another second factor before removing it."
    ]
    assert client.get("/platform").status_code == 200


@pytest.mark.django_db
def test_a_passkey_is_renamed_on_the_page_by_its_owner_only(ada: User) -> None:
    key = add_passkey(ada, authenticator())
    client = https_client()
    client.force_login(ada)
    url = f"/profile/two-factor/passkeys/{key.pk}/rename"
    unnamed = client.post(url, {"name": "  "})
    assert unnamed.status_code == 400 and "Name: give the passkey a name" in unnamed.content.decode()
    assert client.post(url, {"name": "Work  laptop"}).status_code == 302
    assert client.post(url, {"name": "Work laptop"}).status_code == 302
    key.refresh_from_db()
    assert key.name == "Work laptop"
    [renamed] = events("mfa.passkey_renamed")
    assert renamed.details == {"passkey": str(key.pk), "from": "Laptop", "to": "Work laptop"}
    assert 'value="Work laptop"' in client.get("/profile/two-factor").content.decode()
    bob = make_user("bob@example.com", first="Bob")
    other = https_client()
    other.force_login(bob)
    assert other.post(url, {"name": "Mine now"}).status_code == 404
    key.refresh_from_db()
    assert key.name == "Work laptop"
