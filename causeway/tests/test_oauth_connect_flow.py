"""The OAuth 2.0 connect flow against a real local provider (Authlib's server side): scopes chosen on
Causeway's page, the provider's consent, the redirect back; then what a wrong, spent or foreign `state`,
a provider's error redirect, and a token endpoint that answers an error or garbage each do: a clear
refusal, and nothing written."""

from __future__ import annotations

import html
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from causeway.audit.models import AuditEvent
from causeway.connections.models import Connection, Health
from causeway.connections.oauth import redirect_uri
from causeway.tests.connections_kit import recipe, run, step
from causeway.tests.oauth_kit import OAuthKit, oauth_kit

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit() -> Iterator[OAuthKit]:
    with oauth_kit() as made:
        yield made


def _refusal(answer: object) -> str:
    text = html.unescape(answer.content.decode())  # type: ignore[attr-defined]
    assert answer.status_code == 400, text[:2000]  # type: ignore[attr-defined]
    return text


def test_signing_in_creates_a_connection_with_sealed_tokens_that_a_job_uses(kit: OAuthKit) -> None:
    client = kit.browser()
    started = kit.start(client, scopes=["read"])
    assert started.status_code == 302
    query = dict(parse_qsl(urlsplit(started["Location"]).query))
    # Authorization code with PKCE (S256), at the exact redirect URI, with the scopes ticked.
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == redirect_uri(kit.workspace)
    assert query["scope"] == "read" and query["client_id"] == kit.profile.client_id
    answer = kit.come_back(client, kit.consent(started["Location"]))
    assert answer.status_code == 302
    connection = Connection.objects.get(owner=kit.owner)
    assert connection.auth_method == "oauth2_code" and connection.oauth_profile_id == kit.profile.id
    assert connection.granted_scopes == ["read"] and connection.health == Health.HEALTHY
    issued = kit.provider.tokens[-1]
    assert connection.credentials["access_token"] == issued.access_token
    assert connection.credentials["refresh_token"] == issued.refresh_token
    page = client.get(answer["Location"]).content.decode()
    assert issued.access_token not in page and issued.refresh_token not in page
    event = AuditEvent.objects.filter(action="connection.created").latest("seq")
    assert event.target_id == str(connection.id)
    job = run(kit.owner, recipe(kit.as_kit(), kit.owner, [step(connection, "get", path="/orders")]))
    assert job.status == "succeeded", job.error
    assert kit.provider.resource_calls == [(issued.access_token, 200)]


def test_a_spent_state_is_refused_and_writes_nothing(kit: OAuthKit) -> None:
    client = kit.browser()
    started = kit.start(client, scopes=["read"])
    back = kit.consent(started["Location"])
    assert kit.come_back(client, back).status_code == 302
    assert Connection.objects.count() == 1
    replayed = _refusal(kit.come_back(client, back))
    assert "was used already" in replayed
    assert Connection.objects.count() == 1
    # The code was exchanged once: the replay never reached the token endpoint.
    assert len(kit.provider.token_requests) == 1


def test_a_wrong_state_or_another_browsers_state_is_refused(kit: OAuthKit) -> None:
    client = kit.browser()
    started = kit.start(client, scopes=["read"])
    back = kit.consent(started["Location"])
    parts = urlsplit(back)
    forged = dict(parse_qsl(parts.query))
    forged["state"] = "not-the-state-this-browser-got"
    assert "not started in this browser" in _refusal(client.get(parts.path, forged))
    # The same person in another browser session (an attacker who got the redirect URL) is refused.
    elsewhere = kit.browser()
    assert "not started in this browser" in _refusal(kit.come_back(elsewhere, back))
    # Another member of the workspace, with the victim's redirect, is refused too.
    assert "not started in this browser" in _refusal(kit.come_back(kit.browser(kit.analyst), back))
    assert Connection.objects.count() == 0
    assert kit.provider.token_requests == []


def test_a_provider_error_redirect_is_named_and_writes_nothing(kit: OAuthKit) -> None:
    client = kit.browser()
    started = kit.start(client, scopes=["read", "write"])
    back = kit.consent(started["Location"], decision="deny")
    assert "error=access_denied" in back
    text = _refusal(kit.come_back(client, back))
    assert "the provider refused the sign-in (access_denied" in text
    assert Connection.objects.count() == 0 and kit.provider.token_requests == []


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ((200, "<html><body>Service unavailable</body></html>"), "not a token"),
        ((200, {"token_type": "Bearer", "expires_in": 3600}), "without an access token"),
        ((200, {"access_token": "x", "token_type": "mac"}), "type 'mac'"),
        ((400, {"error": "invalid_grant", "error_description": "too old"}), "invalid_grant: too old"),
        ((502, "Bad gateway"), "HTTP 502"),
    ],
)
def test_a_token_endpoint_that_answers_an_error_or_garbage_is_named(
    kit: OAuthKit, answer: tuple[int, object], named: str
) -> None:
    kit.provider.token_answer = lambda form: answer
    client = kit.browser()
    started = kit.start(client, scopes=["read"])
    text = _refusal(kit.come_back(client, kit.consent(started["Location"])))
    assert named in text
    assert Connection.objects.count() == 0
    assert not AuditEvent.objects.filter(action="connection.created").exists()


def test_bad_start_input_is_named_and_nothing_is_kept(kit: OAuthKit) -> None:
    client = kit.browser()
    assert "offers no scope admin" in _refusal(kit.start(client, scopes=["admin"]))
    assert "no such OAuth profile" in _refusal(kit.start(client, scopes=["read"], profile="nope"))
    assert "needs a name" in _refusal(kit.start(client, scopes=["read"], name=""))
    no_profile = _refusal(kit.start(client, scopes=["read"], profile=""))
    assert "no built-in OAuth client" in no_profile and "OAuth profile" in no_profile
    assert client.session.get("causeway.oauth.pending") in (None, {})


def test_an_operator_cannot_start_a_personal_sign_in(kit: OAuthKit) -> None:
    from testkit.factories import UserFactory
    from testkit.personas import member

    operator = UserFactory.create(email="op@example.com")
    member(kit.workspace, operator, "operator")
    answer = kit.start(kit.browser(operator), scopes=["read"])
    assert answer.status_code == 403
    assert kit.provider.token_requests == []
