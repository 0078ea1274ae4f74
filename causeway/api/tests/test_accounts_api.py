"""`/api/v1/me` and `/api/v1/me/tokens`: the caller's own account and API tokens over the REST API."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from causeway.accounts import services
from causeway.accounts.actors import SYSTEM
from causeway.accounts.models import User
from causeway.audit.models import AuditEvent
from causeway.workspaces import tokens
from causeway.workspaces.models import ApiToken
from testkit.support import STRONG_PASSWORD, https_client, make_user

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-Lantern-orbit-4"
JSON = "application/json"


def count(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


class Api:
    """A client speaking to the API with one bearer token."""

    def __init__(self, secret: str) -> None:
        self.client = https_client()
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", **self.auth)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        call = getattr(self.client, method)
        return call(f"/api/v1{path}", body, content_type=JSON, **self.auth)


@pytest.fixture
def ada() -> User:
    return make_user("ada@example.com")


@pytest.fixture
def api(ada: User) -> Api:
    _, secret = tokens.token_create(actor=ada, name="tests", expires_in_days=30)
    return Api(secret)


# --- who am I ------------------------------------------------------------------------------------


def test_me_with_a_bearer_token(api: Api, ada: User) -> None:
    response = api.get("/me")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(ada.id),
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "user_type": "standard",
        "date_joined": response.json()["date_joined"],
    }
    assert "password" not in response.content.decode()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer ",
        "Bearer not-a-token",
        "Bearer cw_0000_" + "A" * 43,
        "Basic YWRhQGV4YW1wbGUuY29tOnBhc3N3b3Jk",
        "Token cw_x",
    ],
)
def test_rule_17_a_missing_or_forged_token_gets_401(ada: User, header: str | None) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = https_client().get("/api/v1/me", **extra)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication required"}


def test_rule_17_a_service_account_like_caller_without_its_token_gets_401() -> None:
    """A machine caller that lost its token, with no browser session to fall back on."""
    client = https_client()
    for method, path in [("get", "/me"), ("get", "/me/tokens"), ("post", "/me/tokens"), ("patch", "/me")]:
        response = getattr(client, method)(f"/api/v1{path}", {}, content_type=JSON)
        assert response.status_code == 401, (method, path)


def test_the_browser_session_works_for_reads_and_needs_csrf_for_writes(ada: User) -> None:
    signed_in = https_client()
    signed_in.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
    browser = https_client(enforce_csrf_checks=True)
    browser.cookies["__Host-causeway-session"] = signed_in.cookies["__Host-causeway-session"].value
    assert browser.get("/api/v1/me").json()["email"] == ada.email
    assert browser.get("/profile").status_code == 200, "a page with a form sets the CSRF cookie"
    response = browser.patch("/api/v1/me", {"first_name": "Eve"}, content_type=JSON)
    assert response.status_code == 403
    ada.refresh_from_db()
    assert ada.first_name == "Ada"
    token = browser.cookies["__Host-causeway-csrf"].value
    response = browser.patch(
        "/api/v1/me",
        {"first_name": "Augusta"},
        content_type=JSON,
        HTTP_X_CSRFTOKEN=token,
        HTTP_REFERER="https://testserver/profile",
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Augusta"


def test_a_bad_token_is_not_rescued_by_a_session_cookie(ada: User) -> None:
    browser = https_client()
    browser.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
    response = browser.post(
        "/api/v1/me/tokens", {"name": "x"}, content_type=JSON, HTTP_AUTHORIZATION="Bearer cw_revoked"
    )
    assert response.status_code == 401
    assert not ApiToken.objects.exists()


# --- profile (rule 19) ---------------------------------------------------------------------------


def test_patch_me_changes_only_what_is_sent_with_one_event(api: Api, ada: User) -> None:
    response = api.send("patch", "/me", {"last_name": "King"})
    assert response.status_code == 200
    assert response.json()["last_name"] == "King"
    assert response.json()["first_name"] == "Ada"
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name) == ("Ada", "King")
    assert count("user.profile_changed") == 1


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("first_name", "A", "First name"),
        ("first_name", "Ad4", "First name"),
        ("first_name", "Ada?", "First name"),
        ("first_name", "", "First name"),
        ("last_name", "", "Last name"),
        ("last_name", "L0velace", "Last name"),
        ("last_name", "Love lace", "Last name"),
        ("email", "ada", "Email"),
        ("email", "ada@@example.com", "Email"),
    ],
)
def test_rule_19_api_profile_errors_name_the_field(
    api: Api, ada: User, field: str, value: str, label: str
) -> None:
    response = api.send("patch", "/me", {field: value})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith(f"{field}: {label}")
    assert list(body["errors"]) == [field]
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.com")


@pytest.mark.parametrize(
    "extra",
    [
        {"user_type": "staff"},
        {"is_active": False},
        {"id": str(uuid.uuid4())},
        {"password": "x"},
        {"date_joined": "2000-01-01T00:00:00Z"},
        {"is_staff": True},
    ],
)
def test_patch_me_refuses_fields_it_does_not_own(api: Api, ada: User, extra: dict[str, Any]) -> None:
    response = api.send("patch", "/me", {"first_name": "Augusta", **extra})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == next(iter(extra))
    after = User.objects.get(pk=ada.pk)
    assert (after.first_name, after.user_type, after.is_active, after.password) == (
        "Ada",
        "standard",
        True,
        ada.password,
    )
    assert count("user.profile_changed") == 0


# --- password ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"current_password": "nope", "new_password": NEW_PASSWORD}, "current_password", "not your current"),
        ({"current_password": STRONG_PASSWORD, "new_password": "Short-1"}, "new_password", "too short"),
        ({"current_password": STRONG_PASSWORD, "new_password": "password1234"}, "new_password", "too common"),
        (
            {"current_password": STRONG_PASSWORD, "new_password": "839201745563"},
            "new_password",
            "entirely numeric",
        ),
    ],
)
def test_rule_19_api_password_errors_name_the_field(
    api: Api, ada: User, body: dict[str, str], field: str, words: str
) -> None:
    response = api.send("post", "/me/password", body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
    assert list(response.json()["errors"]) == [field]
    assert words in " ".join(response.json()["errors"][field])
    assert body["new_password"] not in response.content.decode()
    assert User.objects.get(pk=ada.pk).check_password(STRONG_PASSWORD)


def test_rule_17_api_password_change_ends_every_session_but_not_tokens(api: Api, ada: User) -> None:
    browsers = [https_client(), https_client()]
    for browser in browsers:
        browser.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
        assert browser.get("/").status_code == 200

    response = api.send(
        "post", "/me/password", {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 200
    assert response.json() == {"sessions_ended": 2}
    for browser in browsers:
        assert browser.get("/").status_code == 302
        assert browser.get("/api/v1/me").status_code == 401
    assert api.get("/me").status_code == 200, "API tokens are separate credentials"
    assert count("user.password_changed") == 1


def test_rule_17_api_password_change_over_the_session_ends_that_session_too(ada: User) -> None:
    browser = https_client()
    browser.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
    response = browser.post(
        "/api/v1/me/password",
        {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        content_type=JSON,
    )
    assert response.status_code == 200
    assert response.json() == {"sessions_ended": 1}
    assert browser.get("/api/v1/me").status_code == 401


# --- tokens --------------------------------------------------------------------------------------


def test_rule_17_token_created_over_the_api_is_shown_once_and_stored_hashed(api: Api, ada: User) -> None:
    response = api.send("post", "/me/tokens", {"name": "deploy", "expires_in_days": 7})
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith(f"cw_{body['prefix']}_")
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiToken.objects.values_list()))
    assert timedelta(days=7) - (stored.expires_at - timezone.now()) < timedelta(minutes=1)

    listing = api.get("/me/tokens")
    assert listing.status_code == 200
    assert secret not in listing.content.decode()
    assert "digest" not in listing.content.decode()
    assert {t["name"] for t in listing.json()} == {"tests", "deploy"}
    assert set(listing.json()[0]) == {
        "id",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    assert Api(secret).get("/me").json()["email"] == ada.email
    assert count("api_token.created") == 2


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "expires_in_days": 0}, 400, "expires_in_days"),
        ({"name": "x", "expires_in_days": 366}, 400, "expires_in_days"),
        ({"name": "  ", "expires_in_days": 5}, 400, "name"),
        ({"name": "x", "expires_in_days": 5, "email": "eve@example.com"}, 422, "email"),
        ({"name": "x", "expires_in_days": 5, "user": str(uuid.uuid4())}, 422, "user"),
        ({"name": "x", "expires_in_days": 5, "user_id": str(uuid.uuid4())}, 422, "user_id"),
        ({"name": "x", "expires_in_days": 5, "digest": "0" * 64}, 422, "digest"),
        ({"name": "x", "expires_in_days": 5, "revoked_at": None}, 422, "revoked_at"),
    ],
)
def test_token_create_refuses_bad_or_extra_fields(
    api: Api, body: dict[str, Any], status: int, field: str
) -> None:
    response = api.send("post", "/me/tokens", body)
    assert response.status_code == status
    if status == 400:
        assert response.json()["detail"].startswith(f"{field}: ")
    else:
        assert response.json()["detail"][0]["loc"][-1] == field
    assert ApiToken.objects.count() == 1


def test_a_token_cannot_mint_a_token_that_outlives_it(ada: User) -> None:
    _, secret = tokens.token_create(actor=ada, name="short", expires_in_days=5)
    caller = Api(secret)
    response = caller.send("post", "/me/tokens", {"name": "long", "expires_in_days": 30})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("expires_in_days: ")
    assert caller.send("post", "/me/tokens", {"name": "shorter", "expires_in_days": 4}).status_code == 201


def test_rule_17_an_expired_token_gets_401(ada: User) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _, secret = tokens.token_create(actor=ada, name="day", expires_in_days=1)
        caller = Api(secret)
        assert caller.get("/me").status_code == 200
        clock.shift(timedelta(hours=23, minutes=59))
        assert caller.get("/me").status_code == 200
        clock.shift(timedelta(minutes=2))
        assert caller.get("/me").status_code == 401


def test_rule_17_a_revoked_token_gets_401_on_the_very_next_request(api: Api, ada: User) -> None:
    token, secret = tokens.token_create(actor=ada, name="victim", expires_in_days=5)
    victim = Api(secret)
    assert victim.get("/me").status_code == 200

    response = api.send("delete", f"/me/tokens/{token.id}")

    assert response.status_code == 204
    assert victim.get("/me").status_code == 401
    assert victim.send("post", "/me/tokens", {"name": "again", "expires_in_days": 1}).status_code == 401
    listed = {t["id"]: t for t in api.get("/me/tokens").json()}
    assert listed[str(token.id)]["revoked_at"] is not None
    assert count("api_token.revoked") == 1
    assert api.send("delete", f"/me/tokens/{token.id}").status_code == 204
    assert count("api_token.revoked") == 1, "revoking twice records once"


def test_a_token_can_revoke_itself(ada: User) -> None:
    token, secret = tokens.token_create(actor=ada, name="self", expires_in_days=5)
    caller = Api(secret)
    assert caller.send("delete", f"/me/tokens/{token.id}").status_code == 204
    assert caller.get("/me").status_code == 401


def test_another_users_token_id_answers_404_and_is_untouched(api: Api) -> None:
    bob = make_user("bob@example.com")
    token, secret = tokens.token_create(actor=bob, name="bobs", expires_in_days=5)
    assert api.send("delete", f"/me/tokens/{token.id}").status_code == 404
    assert api.send("delete", f"/me/tokens/{uuid.uuid4()}").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert Api(secret).get("/me").status_code == 200
    assert str(token.id) not in api.get("/me/tokens").content.decode()
    assert count("api_token.revoked") == 0


def test_tokens_of_a_disabled_user_stop_at_once(api: Api, ada: User) -> None:
    services.user_disable(actor=SYSTEM, user=ada)
    assert api.get("/me").status_code == 401
    services.user_enable(actor=SYSTEM, user=ada)
    assert api.get("/me").status_code == 200
