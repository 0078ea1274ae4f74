"""The Celery tasks of the accounts app: password-reset emails, sent by a worker so that the page that
asked never waits for the mail server; and the beat's housekeeping of what single sign-on remembers."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="causeway.accounts.tasks.send_password_reset", ignore_result=True)  # type: ignore[untyped-decorator]
def send_password_reset(user_id: str) -> bool:
    """Email a password-reset link to the account (queued by `passwords.password_reset_request`)."""
    from causeway.accounts import passwords

    return passwords.password_reset_mail(user_id=user_id)


@shared_task(name="causeway.accounts.tasks.purge_saml_assertions", ignore_result=True)  # type: ignore[untyped-decorator]
def purge_saml_assertions() -> int:
    """Beat, every 5 minutes: forget SAML assertions past their validity (kept only against replay)."""
    from causeway.accounts import saml  # pysaml2 is loaded by the process that uses it only

    return saml.assertions_seen_purge()
