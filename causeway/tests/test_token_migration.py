"""Tokens made before the two token models became one keep working after the migration, on SQLite and
PostgreSQL alike: personal and service-account tokens are written the way the old schema held them,
the database is migrated, and each secret authenticates as its owner; refused tokens stay refused,
and migrating back gives both old tables their tokens again."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from causeway.tests.at_rest import database_bytes, found_in
from causeway.workspaces.models import ApiToken, ServiceAccount, TokenKind
from causeway.workspaces.tokens import token_verify
from testkit.support import https_client, make_user, make_workspace, migrate_database

BEFORE = [
    ("accounts", "0002_seal_profiles_and_token_names"),
    ("workspaces", "0003_serviceaccount_serviceaccounttoken_and_more"),
]
ROBOT_TOKEN_NAME = "robot-deploy-token-7d21"


def _old_token(model: Any, tag: str, **fields: Any) -> tuple[Any, str]:
    prefix = secrets.token_hex(6)
    secret = f"{tag}_{prefix}_{secrets.token_urlsafe(32)}"
    defaults = {"expires_at": timezone.now() + timedelta(days=3)}
    token = model.objects.create(
        prefix=prefix, digest=hashlib.sha256(secret.encode()).hexdigest(), **{**defaults, **fields}
    )
    return token, secret


@pytest.mark.django_db(transaction=True)
def test_tokens_of_both_old_models_authenticate_after_the_migration(latest_afterwards: None) -> None:
    ada = make_user("ada@example.com")
    acme = make_workspace("Acme", members={ada: "admin"})
    robot = ServiceAccount.objects.create(workspace=acme, name="robot")

    old = migrate_database(BEFORE)
    Personal = old.get_model("accounts", "ApiToken")
    Robotic = old.get_model("workspaces", "ServiceAccountToken")
    made = timezone.now() - timedelta(days=2)
    laptop, laptop_secret = _old_token(Personal, "cw", user_id=ada.pk, name="laptop")
    Personal.objects.filter(pk=laptop.pk).update(created_at=made)
    _, revoked_secret = _old_token(Personal, "cw", user_id=ada.pk, name="old", revoked_at=timezone.now())
    deploy, deploy_secret = _old_token(Robotic, "cwsa", service_account_id=robot.pk, name=ROBOT_TOKEN_NAME)
    _, expired_secret = _old_token(
        Robotic, "cwsa", service_account_id=robot.pk, name="gone", expires_at=timezone.now() - timedelta(1)
    )
    assert found_in(database_bytes(), ROBOT_TOKEN_NAME)  # the control: stored in plaintext before

    migrate_database()

    personal = token_verify(laptop_secret)
    assert personal is not None
    assert (personal.pk, personal.kind, personal.user, personal.name) == (
        laptop.pk,
        TokenKind.PERSONAL,
        ada,
        "laptop",
    )
    assert ApiToken.objects.get(pk=laptop.pk).created_at == made
    robotic = token_verify(deploy_secret)
    assert robotic is not None
    assert (robotic.pk, robotic.kind, robotic.service_account, robotic.name) == (
        deploy.pk,
        TokenKind.SERVICE_ACCOUNT,
        robot,
        ROBOT_TOKEN_NAME,
    )
    assert token_verify(revoked_secret) is None
    assert token_verify(expired_secret) is None
    # A tag names the kind: a service account's secret written as a person's is no token.
    assert token_verify(deploy_secret.replace("cwsa_", "cw_", 1)) is None
    # Through the API, as the callers who hold them use them.
    client = https_client()
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {laptop_secret}")
    assert (me.status_code, me.json()["email"]) == (200, "ada@example.com")
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {revoked_secret}").status_code == 401
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {deploy_secret}").status_code != 401
    # The service account token's name is sealed now.
    raw = ApiToken.objects.filter(pk=deploy.pk).values_list("name", flat=True).get()
    assert isinstance(raw, bytes | memoryview)
    assert not found_in(bytes(raw), ROBOT_TOKEN_NAME)

    back = migrate_database(BEFORE)
    assert back.get_model("accounts", "ApiToken").objects.get(pk=laptop.pk).name == "laptop"
    returned = back.get_model("workspaces", "ServiceAccountToken").objects.get(pk=deploy.pk)
    assert (returned.name, returned.service_account_id, returned.digest) == (
        ROBOT_TOKEN_NAME,
        robot.pk,
        hashlib.sha256(deploy_secret.encode()).hexdigest(),
    )
    assert back.get_model("accounts", "ApiToken").objects.count() == 2
    assert back.get_model("workspaces", "ServiceAccountToken").objects.count() == 2
    assert uuid.UUID(str(returned.pk)) == deploy.pk
