"""Step-up: proving who one is again, with the password or a second factor, before a sensitive act.

The proof is stamped in the session (`services.AUTHENTICATED_AT`) and is good for
`services.STEP_UP_WINDOW`; signing in stamps it too. Wrong proofs are audited and counted against the
address's allowance of failed sign-ins, as wrong passwords at the login page are.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction

from causeway.accounts import mfa, passkeys
from causeway.accounts.models import User
from causeway.accounts.services import login_throttle_check
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import audit_record


def reauthenticate(
    *,
    user: User,
    password: str = "",
    code: str = "",
    credential: str = "",
    session: SessionBase | None = None,
) -> str:
    """Check the password, a second-factor code or a passkey's answer (`credential`, to the challenge
    drawn in `session` for a step-up) of the signed-in user; returns the method used.

    Raises ValidationError naming the field, and `Throttled` when the address failed too often.
    """
    login_throttle_check()
    if credential and session is not None:
        verdict = passkeys.passkey_check(
            user=user, session=session, credential=credential, purpose=passkeys.STEP_UP
        )
        if verdict.method is None:
            raise ValidationError({"credential": verdict.message})
        method = verdict.method
    elif code:
        verdict = mfa.second_factor_check(user=user, code=code, purpose="step_up")
        if verdict.method is None:
            raise ValidationError({"code": verdict.message})
        method = verdict.method
    elif password:
        if not user.check_password(password):
            with transaction.atomic():
                refusals.refusal_count(refusals.SIGN_INS)
                audit_record(
                    actor=user,
                    action="auth.reauthentication_failed",
                    target=user,
                    outcome=Outcome.FAILURE,
                    details={"method": "password"},
                )
            raise ValidationError({"password": "Password is wrong."})
        method = "password"
    else:
        raise ValidationError({"password": "Password: enter your password or a code from your app."})
    with transaction.atomic():
        audit_record(actor=user, action="auth.reauthenticated", target=user, details={"method": method})
    return method
