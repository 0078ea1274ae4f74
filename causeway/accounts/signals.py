"""Keeps the user-to-session index in step with Django's login and logout."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.models import Session
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from causeway.accounts.models import User, UserSession
from causeway.accounts.services import reauthenticated
from causeway.accounts.sessions import SIGNED_IN, session_started


@receiver(user_logged_in)
def remember_session(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    if not request.session.session_key:
        request.session.save()
    session_started(user=user, session_key=str(request.session.session_key))
    # The session's absolute lifetime counts from here, whatever the browser held before.
    request.session[SIGNED_IN] = time.time()
    # Signing in proves who the user is: sensitive acts need no second proof for a while.
    reauthenticated(request.session)
    # Sessions that lapsed on their own leave index rows behind; a lapsed session can never be
    # loaded again, so its row is dropped here rather than kept forever.
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    UserSession.objects.filter(user=user).exclude(session_key__in=live).delete()


@receiver(user_logged_out)
def forget_session(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()
