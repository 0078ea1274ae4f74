"""OAuth tokens at work, against a real local provider (Authlib's server side, rotating refresh tokens):
refreshed before they expire and once on a 401; a refresh the provider refuses marks the connection
"needs re-authorisation", tells its owner, fails jobs with that reason and sends nothing more; signing
in again recovers it; disconnecting revokes the tokens at the provider (RFC 7009), then destroys them."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest

from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.models import Connection, Health
from causeway.tests.connections_kit import recipe, run, step
from causeway.tests.oauth_kit import OAuthKit, oauth_kit

pytestmark = pytest.mark.django_db


@pytest.fixture
def kit() -> Iterator[OAuthKit]:
    with oauth_kit() as made:
        yield made


def _job(kit: OAuthKit, connection: Connection, path: str = "/orders") -> object:
    return run(kit.owner, recipe(kit.as_kit(), kit.owner, [step(connection, "get", path=path)], name=path))


def test_an_access_token_about_to_expire_is_refreshed_before_the_request(kit: OAuthKit) -> None:
    # The provider's tokens live 30 s: inside the minute Causeway keeps in hand, so the next use refreshes.
    kit.provider.expires_in = 30
    connection = kit.sign_in(scopes=["read"])
    first = dict(connection.credentials)
    job = _job(kit, connection)
    assert job.status == "succeeded", job.error  # type: ignore[attr-defined]
    assert kit.provider.refreshes == 1
    stored = Connection.objects.get(pk=connection.pk).credentials
    # Rotated: a new access token and a new refresh token, the old ones spent at the provider.
    assert stored["access_token"] != first["access_token"]
    assert stored["refresh_token"] != first["refresh_token"]
    assert kit.provider.resource_calls == [(stored["access_token"], 200)]


def test_a_401_refreshes_once_and_the_request_is_sent_again(kit: OAuthKit) -> None:
    connection = kit.sign_in(scopes=["read"])
    old = connection.credentials["access_token"]
    kit.provider.expire_all()
    job = _job(kit, connection)
    assert job.status == "succeeded", job.error  # type: ignore[attr-defined]
    new = Connection.objects.get(pk=connection.pk).credentials["access_token"]
    assert kit.provider.refreshes == 1
    assert kit.provider.resource_calls == [(old, 401), (new, 200)]


def test_a_second_401_is_the_providers_answer_and_is_not_retried_again(kit: OAuthKit) -> None:
    connection = kit.sign_in(scopes=["read"])
    kit.provider.expires_in = 0  # every token it gives from now on is dead on arrival
    kit.provider.expire_all()
    job = _job(kit, connection)
    assert job.status == "failed"  # type: ignore[attr-defined]
    assert "HTTP 401" in (job.error or "")  # type: ignore[attr-defined]
    assert kit.provider.refreshes == 1 and len(kit.provider.resource_calls) == 2


def test_a_refused_refresh_marks_the_connection_and_fails_jobs_with_that_reason(
    kit: OAuthKit, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = kit.browser()
    connection = kit.sign_in(scopes=["read"], client=client)
    # The person revoked Causeway's access at the provider: every token of the grant is dead.
    for token in kit.provider.tokens:
        token.revoked = True
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = _job(kit, connection)
    # Its owner is told by email, once, with the page where they sign in again.
    [notice] = mailoutbox
    assert notice.to == [kit.owner.email] and connection.name in notice.subject
    assert f"/w/{kit.workspace.slug}/connections/{connection.id}" in notice.body
    assert job.status == "failed"  # type: ignore[attr-defined]
    assert "needs re-authorisation" in (job.error or "")  # type: ignore[attr-defined]
    marked = Connection.objects.get(pk=connection.pk)
    assert marked.health == Health.REAUTH
    page = html.unescape(client.get(f"/w/{kit.workspace.slug}/connections/{connection.id}").content.decode())
    assert "Needs re-authorisation" in page and "Sign in again" in page
    listing = client.get(f"/w/{kit.workspace.slug}/connections").content.decode()
    assert "Needs re-authorisation" in html.unescape(listing)
    # The next job is refused before anything is sent: no resource call, no token request.
    calls, tokens = len(kit.provider.resource_calls), len(kit.provider.token_requests)
    with django_capture_on_commit_callbacks(execute=True):
        again = _job(kit, connection, "/again")
    assert len(mailoutbox) == 1, "a connection already marked is not told of again"
    assert again.status == "failed" and "needs re-authorisation" in (again.error or "")  # type: ignore[attr-defined]
    assert (len(kit.provider.resource_calls), len(kit.provider.token_requests)) == (calls, tokens)
    # Signing in again (the same connection, through its page) makes it usable at once.
    started = client.post(
        f"/w/{kit.workspace.slug}/oauth/start", {"connection": str(connection.id), "scope": ["read"]}
    )
    assert started.status_code == 302
    assert kit.come_back(client, kit.consent(started["Location"])).status_code == 302
    recovered = Connection.objects.get(pk=connection.pk)
    assert recovered.health == Health.HEALTHY and Connection.objects.count() == 1
    assert AuditEvent.objects.filter(action="connection.reauthorised", target_id=str(connection.id)).exists()
    assert _job(kit, recovered, "/after").status == "succeeded"  # type: ignore[attr-defined]


def test_disconnecting_revokes_at_the_provider_then_destroys_the_tokens(kit: OAuthKit) -> None:
    connection = kit.sign_in(scopes=["read"])
    access = connection.credentials["access_token"]
    connections.connection_revoke(actor=kit.owner, workspace=kit.workspace, connection_id=connection.id)
    assert kit.provider.revocations and kit.provider.revocations[0][0] == "refresh_token"
    assert not kit.provider.live(access)
    assert not Connection.objects.filter(pk=connection.pk).exists()
    event = AuditEvent.objects.filter(action="connection.revoked").latest("seq")
    assert "HTTP 200" in event.details["revoked_at_provider"]


def test_disconnecting_destroys_the_tokens_when_the_provider_cannot_be_reached(kit: OAuthKit) -> None:
    connection = kit.sign_in(scopes=["read"])
    kit.profile.revoke_url = "http://127.0.0.1:9/revoke"
    kit.profile.save(update_fields=["revoke_url"])
    connections.connection_revoke(actor=kit.admin, workspace=kit.workspace, connection_id=connection.id)
    assert not Connection.objects.filter(pk=connection.pk).exists()
    event = AuditEvent.objects.filter(action="connection.revoked").latest("seq")
    assert "not reached" in event.details["revoked_at_provider"]


def test_a_token_endpoint_down_for_a_moment_is_tried_again_and_marks_nothing(kit: OAuthKit) -> None:
    kit.provider.expires_in = 30  # the next use refreshes first
    connection = kit.sign_in(scopes=["read"])
    answers = iter([(502, "Bad gateway")])
    kit.provider.token_answer = lambda form: next(answers, None)
    found = recipe(kit.as_kit(), kit.owner, [{**step(connection, "get", path="/orders"), "retries": 1}])
    job = run(kit.owner, found)
    assert job.status == "succeeded", job.error
    assert kit.provider.refreshes == 1
    assert Connection.objects.get(pk=connection.pk).health == Health.HEALTHY
    # Down for longer than the step's retries: the step fails with the reason, the connection is not marked.
    kit.provider.token_answer = lambda form: (503, "Unavailable")
    kit.provider.expire_all()
    stored = Connection.objects.get(pk=connection.pk)
    stored.credentials = {**stored.credentials, "expires_at": "1"}  # expired, as far as Causeway knows
    stored.save(update_fields=["credentials"])
    job = run(
        kit.owner, recipe(kit.as_kit(), kit.owner, [{**step(connection, "get"), "retries": 1}], name="Down")
    )
    assert job.status == "failed" and "HTTP 503" in (job.error or "")
    assert Connection.objects.get(pk=connection.pk).health == Health.HEALTHY
