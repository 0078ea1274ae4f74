"""The Celery tasks of the accounts app: the beat's housekeeping of what single sign-on remembers."""

from __future__ import annotations

from celery import shared_task

from causeway.accounts import saml


@shared_task(name="causeway.accounts.tasks.purge_saml_assertions", ignore_result=True)  # type: ignore[untyped-decorator]
def purge_saml_assertions() -> int:
    """Beat, every 5 minutes: forget SAML assertions past their validity (kept only against replay)."""
    return saml.assertions_seen_purge()
