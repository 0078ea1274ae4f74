"""The sessions a user holds: recorded at sign-in with the browser and address, listed on the sessions
page, ended one at a time or all at once. A sign-in from a browser and address the user has not signed
in from before is told to them by email, so a stolen password shows itself."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from causeway import mail
from causeway.accounts.models import SignInDevice, User, UserSession
from causeway.accounts.services import sessions_end_all
from causeway.audit import context
from causeway.audit.services import Actor, HasAuditActor, audit_record
from causeway.vault.fields import blind_index

DEVICE_PURPOSE = "accounts.sign_in_device"
# When a session, or a browser a user signs in from, was last seen is written at most this often: what
# the Sessions page shows may be this much behind, and reads do not turn into writes.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
# When the session was signed in (seconds since the epoch), in its server-side data: its absolute
# lifetime (settings.SESSION_LIFETIME) counts from then, however often it is used.
SIGNED_IN = "causeway_signed_in"

# Checked in this order: Edge and Opera say "Chrome" too, Chrome says "Safari" too.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def device_label(user_agent: str) -> str:
    """A browser as a person names it ("Firefox on Linux"), from its user agent; programs that name no
    known browser are shown by the first words of what they sent."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser is not None:
        return f"{browser} on {system}" if system else browser
    cleaned = _PRINTABLE.sub("", user_agent).strip()
    return cleaned[:60] or "Unknown browser"


def _new_sign_in_notice(user: User, device: str, address: str | None, at: datetime) -> None:
    when = at.strftime("%Y-%m-%d %H:%M UTC")
    link = settings.BASE_URL.rstrip("/") + "/profile/sessions"
    body = (
        f"Your Causeway account {user.email} was signed in to from a browser or address it had not been "
        f"signed in from before:\n\n  {device}, from {address or 'an unknown address'}, at {when}\n\n"
        f"If this was you, there is nothing to do. If not, change your password at once (that ends "
        f"every session) and look at your sessions:\n\n{link}\n"
    )
    mail.notify(to=user.email, subject="New sign-in to your Causeway account", body=body)


@transaction.atomic
def session_started(*, user: User, session_key: str) -> UserSession:
    """Record a session just signed in, with the browser and address of the request; called by the
    login signal for every way of signing in."""
    request = context.current()
    device = device_label(request.user_agent)
    now = timezone.now()
    session, _ = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "device": device, "address": request.ip_address, "last_seen_at": now},
    )
    digest = blind_index(DEVICE_PURPOSE, f"{user.pk}:{device}:{request.ip_address or ''}")
    seen_before = SignInDevice.objects.filter(user=user).exists()
    known, new = SignInDevice.objects.get_or_create(user=user, digest=digest)
    if not new and known.last_seen_at < now - LAST_SEEN_RESOLUTION:
        SignInDevice.objects.filter(pk=known.pk).update(last_seen_at=now)
    # The first sign-in of an account is the person who just set it up: nothing to tell them.
    if new and seen_before:
        _new_sign_in_notice(user, device, request.ip_address, now)
    return session


def session_seen(*, session_key: str) -> None:
    """The session was used now: written only when what is stored is older than LAST_SEEN_RESOLUTION."""
    now = timezone.now()
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - LAST_SEEN_RESOLUTION)
    UserSession.objects.filter(stale, session_key=session_key).update(last_seen_at=now)


def session_list(*, user: User) -> list[UserSession]:
    """The user's sessions still in force, most recently used first."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    found = UserSession.objects.filter(user=user, session_key__in=live)
    return sorted(found, key=lambda s: s.last_seen_at or s.created_at, reverse=True)


def session_by_handle(*, user: User, handle: str) -> UserSession | None:
    """One of the user's sessions by the handle pages and the API show for it (never the key itself,
    which would let whoever reads it take the session over)."""
    for session in session_list(user=user):
        if session_handle(session) == handle:
            return session
    return None


def session_handle(session: UserSession) -> str:
    """A session's name on pages and in the API: a keyed digest of its key, 16 hex characters."""
    return blind_index("accounts.session_handle", session.session_key)[-16:]


@transaction.atomic
def session_end(*, actor: HasAuditActor | Actor, session: UserSession) -> None:
    """End one session: its stored data is deleted, so its cookie finds nothing from the next request."""
    user = session.user
    Session.objects.filter(session_key=session.session_key).delete()
    UserSession.objects.filter(session_key=session.session_key).delete()
    audit_record(actor=actor, action="session.ended", target=user, details={"device": session.device})


@transaction.atomic
def sessions_end_of(*, actor: HasAuditActor | Actor, user: User, workspace_id: str | None = None) -> int:
    """End every session of the user (an Admin for a member of their workspace, or the operator)."""
    ended = sessions_end_all(user=user)
    audit_record(
        actor=actor,
        action="session.ended_all",
        target=user,
        workspace_id=workspace_id,
        details={"sessions_ended": ended},
    )
    return ended
