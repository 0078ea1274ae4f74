"""One allowance of failed sign-ins per address for every step of signing in: the password, the second
factor (a code or a passkey) and leaving for or coming back from an identity provider all ask here."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponse

from causeway.accounts import services as accounts
from causeway.audit.refusals import Throttled


def sign_in_throttled(page: Callable[[int], HttpResponse]) -> HttpResponse | None:
    """None while this address may still try to sign in. Once it has failed too often in this interval,
    the refusal to answer with before anything is checked: `page`, given the seconds to wait, answered
    with 429 and Retry-After."""
    try:
        accounts.login_throttle_check()
    except Throttled as throttled:
        response = page(throttled.retry_after)
        response.status_code = 429
        response["Retry-After"] = str(throttled.retry_after)
        return response
    return None
