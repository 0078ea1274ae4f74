"""Staff always need a second factor once the platform requires it (CAUSEWAY_STAFF_MFA_REQUIRED): a
staff user without one is sent to set it up before any staff page or operation, and cannot turn it off."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from causeway.access import policy
from causeway.access.errors import MfaRequired
from causeway.accounts import mfa
from causeway.audit.models import AuditEvent
from causeway.workspaces import tokens
from testkit.support import https_client, make_user

pytestmark = pytest.mark.django_db


def enrol(user: Any) -> str:
    enrolment = mfa.totp_enrol_begin(actor=user)
    mfa.totp_enrol_confirm(actor=user, code=pyotp.TOTP(enrolment.secret).now())
    return enrolment.secret


@pytest.fixture
def grace() -> Any:
    return make_user("grace@example.com", staff=True, first="Grace", last="Hopper")


def signed_in(user: Any) -> Any:
    client = https_client()
    client.force_login(user)
    return client


@override_settings(STAFF_MFA_REQUIRED=True)
def test_staff_without_a_second_factor_are_sent_to_set_one_up(grace: Any) -> None:
    client = signed_in(grace)
    response = client.get("/platform")
    assert response.status_code == 302 and response["Location"] == "/profile/two-factor"
    page = client.get("/profile/two-factor").content.decode()
    assert "platform requires two-factor authentication of its staff" in page
    _, secret = tokens.token_create(actor=grace, name="ops", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    refused = api.get("/api/v1/platform/invitations")
    assert refused.status_code == 403
    assert "requires two-factor authentication of its staff" in refused.json()["detail"]
    assert AuditEvent.objects.filter(action="access.denied", actor_id=str(grace.id)).exists()
    enrol(grace)
    assert client.get("/platform").status_code == 200
    assert api.get("/api/v1/platform/invitations").status_code == 200


@override_settings(STAFF_MFA_REQUIRED=True)
def test_staff_cannot_turn_the_second_factor_off_while_the_platform_requires_it(grace: Any) -> None:
    secret = enrol(grace)
    with pytest.raises(ValidationError, match="the platform requires two-factor authentication of its staff"):
        mfa.mfa_disable(actor=grace, code=pyotp.TOTP(secret).now())
    assert mfa.mfa_enrolled(user=grace)


@override_settings(STAFF_MFA_REQUIRED=True)
def test_the_requirement_is_for_staff_only(grace: Any) -> None:
    ada = make_user("ada@example.com")
    policy.require_second_factor(ada)
    with pytest.raises(MfaRequired):
        policy.require_second_factor(grace)


@override_settings(STAFF_MFA_REQUIRED=False)
def test_until_the_platform_requires_it_staff_act_without_one(grace: Any) -> None:
    assert signed_in(grace).get("/platform").status_code == 200
    policy.require_second_factor(grace)
