"""A forgotten password: a link by email that works once, for an hour, and ends every session; and no
way to tell which addresses have accounts, from the answers or from their timing."""

from __future__ import annotations

import contextlib
import re
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from causeway.accounts.models import UserSession
from causeway.accounts.tasks import send_password_reset
from causeway.audit.models import AuditEvent
from causeway.celery import app as celery_app
from testkit.support import STRONG_PASSWORD, field_errors, https_client, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-Lantern-orbit-4"
TRIES = 50
LINK = re.compile(r"https://[^/\s]+(/password-reset/[0-9a-z-]+)")


def ask(client: Any, email: str, **extra: Any) -> Any:
    return client.post("/password-reset", {"email": email}, **extra)


def link_in(message: Any) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found[1]


@pytest.fixture
def ada() -> Any:
    return make_user("ada@example.com")


@pytest.fixture(autouse=True)
def worker_at_hand() -> Iterator[None]:
    """The queued email is sent at once, in this process, as a worker would send it."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@contextmanager
def silent_mail_server() -> Iterator[int]:
    """A mail server that takes connections and never says a word: its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def take() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in held:
            connection.close()
        thread.join(timeout=10)


def test_the_answer_never_waits_for_the_mail_server(
    ada: Any, settings: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    celery_app.conf.task_always_eager = False  # the message goes to the broker, for a worker
    settings.EMAIL_TIMEOUT = 10
    client = https_client()
    assert ask(client, "nobody@example.com").status_code == 200  # the process's first page, loaded
    with silent_mail_server() as port:
        settings.EMAIL_BACKEND = "causeway.mail.SmtpBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_SSL = settings.EMAIL_USE_TLS = False
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True) as queued:
            answer = ask(client, ada.email)
        took = time.monotonic() - started
    assert answer.status_code == 200 and len(queued) == 1
    assert took < settings.EMAIL_TIMEOUT / 2, f"the answer took {took:.1f} s"
    # The worker sends it: only the account's id went through the broker.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert send_password_reset(str(ada.pk)) is True
    [message] = mailoutbox
    assert message.to == [ada.email] and link_in(message).startswith("/password-reset/")
    ada.is_active = False
    ada.save(update_fields=["is_active"])
    assert send_password_reset(str(ada.pk)) is False and len(mailoutbox) == 1


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    ada: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    elsewhere = https_client()
    assert elsewhere.post("/login", {"username": ada.email, "password": STRONG_PASSWORD}).status_code == 302
    client = https_client()
    with django_capture_on_commit_callbacks(execute=True):
        answer = ask(client, "ADA@example.com")
    assert (
        answer.status_code == 200 and "a link to reset its password is on its way" in answer.content.decode()
    )
    [message] = mailoutbox
    assert message.to == [ada.email] and message.subject == "Reset your Causeway password"
    link = link_in(message)
    assert client.get(link).status_code == 200
    mismatch = client.post(link, {"new_password": NEW_PASSWORD, "new_password_repeat": "other"})
    assert mismatch.status_code == 400
    assert field_errors(mismatch.content.decode(), "new_password_repeat") == [
        "New password (again) does not match the new password."
    ]
    weak = client.post(link, {"new_password": "short", "new_password_repeat": "short"})
    assert weak.status_code == 400 and field_errors(weak.content.decode(), "new_password")
    done = client.post(link, {"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/login"
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD)
    assert not UserSession.objects.filter(user=ada).exists()
    assert elsewhere.get("/profile").status_code == 302, "the other browser's session ended"
    # Used once: the same link is refused, and sets nothing.
    again = client.post(
        link, {"new_password": "yet-Another-orbit-77", "new_password_repeat": "yet-Another-orbit-77"}
    )
    assert again.status_code == 404 and "expired or was already used" in again.content.decode()
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD)
    [requested] = AuditEvent.objects.filter(action="auth.password_reset_requested")
    assert requested.target_id == str(ada.id) and requested.outcome == "success"
    assert AuditEvent.objects.filter(action="user.password_reset", actor_id=str(ada.id)).count() == 1


def test_a_reset_link_expires_after_an_hour(
    ada: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = https_client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            ask(client, ada.email)
        link = link_in(mailoutbox[0])
        clock.shift(timedelta(minutes=59))
        assert client.get(link).status_code == 200
        clock.shift(timedelta(minutes=2))
        assert client.get(link).status_code == 404
        refused = client.post(link, {"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD})
        assert refused.status_code == 404
    ada.refresh_from_db()
    assert ada.check_password(STRONG_PASSWORD)


@pytest.mark.parametrize(
    "token",
    ["nonsense", "0" * 32 + "-abc-0123456789abcdef0123", "../../login", "a\x00b"],
)
def test_a_made_up_link_is_refused(ada: Any, token: str) -> None:
    from urllib.parse import quote

    assert https_client().get(f"/password-reset/{quote(token, safe='')}").status_code == 404


def _canonical(response: Any, typed: str) -> tuple[int, str]:
    """The answer with what differs by construction taken out: the CSRF token and the email typed."""
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return response.status_code, body.replace(typed, "EMAIL")


def _interleaved(kinds: dict[str, tuple[Callable[[int], Any], Callable[[int], str]]]) -> dict[str, Any]:
    """Each kind of request TRIES times, taken in turns, so that a machine busier at one moment than
    another slows every kind alike; the median time and the distinct answers of each kind."""
    took: dict[str, list[float]] = {name: [] for name in kinds}
    answers: dict[str, set[Any]] = {name: set() for name in kinds}
    for i in range(TRIES):
        for name, (send, typed) in kinds.items():
            started = time.perf_counter()
            response = send(i)
            took[name].append(time.perf_counter() - started)
            answers[name].add(_canonical(response, typed(i)))
    return {name: (statistics.median(took[name]), answers[name]) for name in kinds}


def test_an_address_without_an_account_queues_the_same_work_as_one_with_an_account(
    ada: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = https_client()
    for email in ("nobody@example.com", ada.email):
        with django_capture_on_commit_callbacks(execute=False) as queued:
            assert ask(client, email).status_code == 200
        assert len(queued) == 1, email
    # Run as a worker would: only the account's message becomes an email.
    with django_capture_on_commit_callbacks(execute=True):
        ask(client, "nobody@example.com")
    assert mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        ask(client, ada.email)
    [message] = mailoutbox
    assert message.to == [ada.email]


def test_no_account_enumeration_from_the_answers_or_their_timing(
    ada: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = https_client()

    def address(i: int) -> dict[str, str]:
        # A new source address each try: the throttles, which count per address, stay out of it.
        return {"REMOTE_ADDR": f"10.20.{i // 250}.{i % 250 + 1}"}

    def unknown(i: int) -> str:
        return f"nobody{i}@example.com"

    def login(email: Callable[[int], str]) -> Callable[[int], Any]:
        return lambda i: client.post(
            "/login", {"username": email(i), "password": "Wrong-guess-1"}, **address(i)
        )

    def reset(email: Callable[[int], str]) -> Callable[[int], Any]:
        return lambda i: ask(client, email(i), **address(i))

    def known(i: int) -> str:
        return ada.email

    with django_capture_on_commit_callbacks(execute=True):
        measured = _interleaved(
            {
                "login_unknown": (login(unknown), unknown),
                "login_known": (login(known), known),
                "reset_unknown": (reset(unknown), unknown),
                "reset_known": (reset(known), known),
            }
        )
    (login_unknown, unknown_answers), (login_known, known_answers) = (
        measured["login_unknown"],
        measured["login_known"],
    )
    (reset_unknown, reset_unknown_answers), (reset_known, reset_known_answers) = (
        measured["reset_unknown"],
        measured["reset_known"],
    )
    assert len(mailoutbox) == TRIES, "each request for the known address sent its link"
    assert unknown_answers == known_answers and len(known_answers) == 1
    assert reset_unknown_answers == reset_known_answers and len(reset_known_answers) == 1
    [(status, _)] = known_answers
    assert status == 200
    # Ratios, not times: the machine may be slow, but both kinds of address cost about the same.
    figures = f"login {login_unknown:.4f}/{login_known:.4f} s, reset {reset_unknown:.4f}/{reset_known:.4f} s"
    assert 1 / 2 < login_unknown / login_known < 2, figures
    assert 1 / 2 < reset_unknown / reset_known < 2, figures
