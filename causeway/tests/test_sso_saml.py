"""Signing in through a SAML 2.0 identity provider, against pysaml2's IdP side with its own key: a good
sign-in, then every wrong answer refused with a message and audited: an unsigned assertion (even in a
signed response), a tampered one, another audience, another recipient, an expired one, a replayed one
(even with the browser's cookie), one this browser did not ask for; and staff adding a SAML provider."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from causeway.access import identity_providers as providers
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import IdentityProvider, SamlAssertionSeen, User
from causeway.accounts.saml import sp_metadata
from causeway.accounts.tasks import purge_saml_assertions
from causeway.accounts.tests.saml_idp import IDP_ENTITY, IDP_SSO, SamlIdp, saml_idp
from causeway.audit.models import AuditEvent
from testkit.support import https_client, make_user, run_causeway

ACS = "https://testserver/login/saml/corp/acs"
ENTITY = "https://testserver/login/saml/corp/metadata"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("occurred_at", "chain", "seq"))


@pytest.fixture(autouse=True)
def public_address(settings: Any) -> None:
    settings.BASE_URL = "https://testserver"


@pytest.fixture
def idp(tmp_path: Any) -> SamlIdp:
    return saml_idp(tmp_path)


@pytest.fixture
def corp(db: Any, idp: SamlIdp) -> Iterator[IdentityProvider]:
    yield providers.identity_provider_create_saml(
        actor=SystemActor(label="test"),
        slug="corp",
        name="Corp SSO",
        metadata=idp.metadata(),
        trusted_domains=["example.com"],
    )


def start(client: Any) -> str:
    left = client.get("/login/saml/corp")
    assert left.status_code == 302, left.content
    assert left["Location"].startswith(IDP_SSO + "?SAMLRequest=")
    return str(left["Location"])


def post_back(client: Any, response: str) -> Any:
    return client.post("/login/saml/corp/acs", {"SAMLResponse": response})


def signed_in_as(client: Any) -> str | None:
    answer = client.get("/profile")
    return None if answer.status_code != 200 else answer.context["request"].user.email


@pytest.mark.django_db
def test_saml_sign_in_with_a_signed_assertion_makes_the_account(idp: SamlIdp, corp: IdentityProvider) -> None:
    assert corp.issuer == IDP_ENTITY and corp.protocol == "saml"
    client = https_client()
    assert 'id="sso-corp" href="/login/saml/corp"' in client.get("/login").content.decode()
    url = start(client)
    answer = post_back(client, idp.answer(url, sp_metadata(corp, "https://testserver")))
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert signed_in_as(client) == "ada@example.com"
    user = User.objects.with_email("ada@example.com").get()
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace") and not user.has_usable_password()
    assert events("auth.login")[-1].details == {"via": "corp"}
    assert events("user.created")[-1].details == {"user_type": "standard", "via": "saml", "provider": "corp"}
    metadata = client.get("/login/saml/corp/metadata")
    assert (
        metadata.status_code == 200
        and ENTITY in metadata.content.decode()
        and ACS in metadata.content.decode()
    )


REFUSALS = {
    "unsigned": ({"sign_assertion": False}, "not signed", "signature"),
    "signed_response_unsigned_assertion": (
        {"sign_assertion": False, "sign_response": True},
        "not signed",
        "s",
    ),
    "tampered": ({"tamper": True}, "not signed by its key", "signature"),
    "audience": ({"audience": "https://other.example/metadata"}, "meant for another application", "audience"),
    "recipient": ({"destination": "https://other.example/acs"}, "meant for another address", "recipient"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_wrong_saml_answer_is_refused_with_a_message_and_audited(
    idp: SamlIdp, corp: IdentityProvider, case: str
) -> None:
    changes, message, reason = REFUSALS[case]
    client = https_client()
    url = start(client)
    answer = post_back(client, idp.answer(url, sp_metadata(corp, "https://testserver"), **changes))
    page = answer.content.decode()
    assert answer.status_code == 400 and 'id="sso-refused"' in page and message in page, page
    assert signed_in_as(client) is None
    failed = events("auth.sso_failed")
    assert len(failed) == 1 and failed[0].details["reason"].startswith(reason)
    assert failed[0].details["protocol"] == "saml"
    assert not User.objects.with_email("admin@example.com").exists()


@pytest.mark.django_db
def test_an_expired_saml_assertion_is_refused(idp: SamlIdp, corp: IdentityProvider) -> None:
    client = https_client()
    url = start(client)
    response = idp.answer(url, sp_metadata(corp, "https://testserver"))
    # The IdP gave it 5 minutes; the skew allowed is 1 minute.
    with time_machine.travel(timezone.now() + timedelta(minutes=7), tick=False):
        answer = post_back(client, response)
    assert answer.status_code == 400 and "has expired" in answer.content.decode()
    assert events("auth.sso_failed")[0].details["reason"] == "expired"


@pytest.mark.django_db
def test_a_replayed_saml_assertion_is_refused_even_with_the_browsers_cookie(
    idp: SamlIdp, corp: IdentityProvider
) -> None:
    client = https_client()
    url = start(client)
    kept = client.cookies.get("__Host-causeway-saml").value
    response = idp.answer(url, sp_metadata(corp, "https://testserver"))
    assert post_back(client, response).status_code == 302
    # Someone who captured both the answer and the browser's cookie posts them again.
    thief = https_client()
    thief.cookies["__Host-causeway-saml"] = kept
    again = post_back(thief, response)
    assert again.status_code == 400 and "already used" in again.content.decode()
    assert signed_in_as(thief) is None
    assert events("auth.sso_failed")[0].details["reason"] == "replay"
    # Without the cookie, an answer is one this browser never asked for.
    stranger = https_client()
    assert "not started in this browser" in post_back(stranger, response).content.decode()


@pytest.mark.django_db
def test_an_existing_account_signs_in_and_a_second_factor_is_still_asked(
    idp: SamlIdp, corp: IdentityProvider
) -> None:
    import pyotp

    from causeway.accounts import mfa

    user = make_user("ada@example.com")
    enrolment = mfa.totp_enrol_begin(actor=user)
    mfa.totp_enrol_confirm(actor=user, code=pyotp.TOTP(enrolment.secret).now())
    client = https_client()
    url = start(client)
    answer = post_back(client, idp.answer(url, sp_metadata(corp, "https://testserver")))
    assert answer.status_code == 302 and answer["Location"] == "/login/second-factor"
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_staff_add_a_saml_provider_on_the_page_by_the_api_and_the_command_line(
    idp: SamlIdp, tmp_path: Any
) -> None:
    import io

    from django.core.management import CommandError, call_command

    from causeway.accounts.services import reauthenticated

    staff = make_user("root@example.com", staff=True)
    client = https_client()
    client.force_login(staff)
    session = client.session
    reauthenticated(session)
    session.save()
    form = {"slug": "corp", "name": "Corp SSO", "metadata": idp.metadata(), "trusted_domains": "example.com"}
    wrong = client.post("/platform/identity-providers/saml", {**form, "metadata": "<not-metadata/>"})
    assert (
        wrong.status_code == 400 and "Metadata must be a SAML 2.0 identity provider" in wrong.content.decode()
    )
    assert client.post("/platform/identity-providers/saml", form).status_code == 302
    assert IdentityProvider.objects.get(slug="corp").issuer == IDP_ENTITY

    body = {
        "slug": "corp-two",
        "name": "Corp Two",
        "metadata": idp.metadata(),
        "trusted_domains": ["example.com"],
    }
    created = client.post("/api/v1/platform/identity-providers/saml", body, content_type="application/json")
    assert created.status_code == 201 and created.json()["protocol"] == "saml"

    metadata_file = tmp_path / "idp.xml"
    metadata_file.write_text(idp.metadata())
    out = io.StringIO()
    call_command(
        "sso",
        "add-saml",
        "corp-three",
        "--name",
        "Corp Three",
        "--metadata-file",
        str(metadata_file),
        "--trusted-domains",
        "example.com",
        stdout=out,
    )
    assert "/login/saml/corp-three" in out.getvalue()
    with pytest.raises(CommandError, match="metadata: Metadata must be"):
        metadata_file.write_text("<x/>")
        call_command(
            "sso",
            "add-saml",
            "corp-four",
            "--name",
            "Four",
            "--metadata-file",
            str(metadata_file),
            "--trusted-domains",
            "example.com",
            stdout=out,
        )


@pytest.mark.django_db
def test_a_provider_whose_metadata_breaks_answers_a_refusal_never_a_server_error(
    idp: SamlIdp, corp: IdentityProvider
) -> None:
    client = https_client()
    url = start(client)
    response = idp.answer(url, sp_metadata(corp, "https://testserver"))
    # Its stored metadata was cut short (a failed edit at the provider, a broken certificate).
    IdentityProvider.objects.filter(pk=corp.pk).update(saml_metadata=idp.metadata()[:600])
    for path in ("/login/saml/corp", "/login/saml/corp/metadata"):
        answer = client.get(path)
        page = answer.content.decode()
        assert answer.status_code == 409 and 'id="sso-refused"' in page, path
        assert "SAML settings cannot be used" in page and "load its metadata again" in page
    posted = post_back(client, response)
    assert posted.status_code == 400 and "SAML settings cannot be used" in posted.content.decode()
    assert signed_in_as(client) is None
    failed = events("auth.sso_failed")
    assert [event.details for event in failed] == [{"protocol": "saml", "reason": "metadata_unusable"}] * 3
    assert all(event.target_id == str(corp.id) and event.outcome == "failure" for event in failed)


@pytest.mark.django_db
def test_the_entity_and_consumer_addresses_are_the_public_ones_whatever_host_the_request_names(
    idp: SamlIdp, corp: IdentityProvider
) -> None:
    client = https_client()
    metadata = client.get("/login/saml/corp/metadata", HTTP_HOST="127.0.0.1:4444").content.decode()
    assert ENTITY in metadata and ACS in metadata and "127.0.0.1" not in metadata
    url = client.get("/login/saml/corp", HTTP_HOST="127.0.0.1:4444")["Location"]
    answer = post_back(client, idp.answer(url, sp_metadata(corp, "https://testserver")))
    assert answer.status_code == 302 and signed_in_as(client) == "ada@example.com"


def _sso_command(*args: str) -> subprocess.CompletedProcess[str]:
    return run_causeway("sso", *args)  # type: ignore[no-any-return]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_the_command_line_replaces_a_saml_providers_metadata_and_refuses_bad_input_in_one_line(
    idp: SamlIdp, corp: IdentityProvider, tmp_path: Any, transactional_db: None
) -> None:
    good = tmp_path / "idp.xml"
    good.write_text(idp.metadata())
    done = _sso_command("update", "corp", "--name", "Corp Login", "--metadata-file", str(good))
    assert (done.returncode, done.stdout.strip()) == (0, "Saved identity provider corp."), done.stderr
    assert IdentityProvider.objects.get(pk=corp.pk).name == "Corp Login"

    bad = tmp_path / "bad.xml"
    bad.write_text("<x/>")
    for args, said in (
        (("--metadata-file", str(bad)), "metadata: Metadata must be a SAML 2.0 identity provider"),
        (("--metadata-file", str(tmp_path / "missing.xml")), "metadata-file: cannot read"),
        (("--issuer", "https://login.example.com"), "issuer belongs to OpenID Connect providers"),
    ):
        refused = _sso_command("update", "corp", *args)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode != 0 and len(lines) == 1 and said in lines[0], refused.stderr
    assert IdentityProvider.objects.get(pk=corp.pk).saml_metadata == corp.saml_metadata


@pytest.mark.django_db
def test_expired_assertions_are_forgotten_by_the_beats_housekeeping_not_by_each_sign_in(
    idp: SamlIdp, corp: IdentityProvider, settings: Any
) -> None:
    old = SamlAssertionSeen.objects.create(
        provider=corp, assertion_id="long-expired", expires_at=timezone.now() - timedelta(hours=1)
    )
    client = https_client()
    url = start(client)
    assert post_back(client, idp.answer(url, sp_metadata(corp, "https://testserver"))).status_code == 302
    assert SamlAssertionSeen.objects.filter(pk=old.pk).exists()
    assert SamlAssertionSeen.objects.count() == 2
    assert purge_saml_assertions() == 1
    kept = SamlAssertionSeen.objects.get()
    assert kept.assertion_id != "long-expired" and kept.expires_at > timezone.now()
    beat = settings.CELERY_BEAT_SCHEDULE["accounts-purge-saml-assertions"]
    assert beat["task"] == purge_saml_assertions.name and beat["schedule"] == 300.0
