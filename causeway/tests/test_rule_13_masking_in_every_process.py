"""Rule 13 in the processes besides the web: a Celery worker's handlers mask, and its registry is fed.

(The web process is proven end to end in `test_rule_13_secret_canary`, through its real log.)
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator

import pytest
from celery import signals
from django.http import HttpResponse

import causeway.celery  # noqa: F401 - connects the worker's signal receivers, as `celery -A causeway` does
from causeway.vault.masking import MaskingFilter, mask, registry
from causeway.vault.models import Secret
from causeway.web import errors
from causeway.web.errors import masked_page


@pytest.fixture
def worker_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with a plain handler, as Celery sets one up, without any filter of ours yet."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(f"celery.test.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    registry.clear()
    yield logger, stream
    logger.removeHandler(handler)
    registry.clear()


def test_rule_13_celery_logging_setup_puts_the_masking_filter_on_every_handler(worker_logger) -> None:
    logger, stream = worker_logger
    assert not any(isinstance(f, MaskingFilter) for f in logger.handlers[0].filters)
    signals.after_setup_logger.send(
        sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False
    )
    assert any(isinstance(f, MaskingFilter) for f in logger.handlers[0].filters)
    registry.register("WORKER_TOKEN", "worker-token-5678")
    logger.error("calling with worker-token-5678")
    assert stream.getvalue() == "calling with [masked:WORKER_TOKEN]\n"


@pytest.mark.django_db
def test_rule_13_each_task_first_feeds_the_worker_registry_from_the_store(worker_logger) -> None:
    Secret(workspace_id=uuid.uuid4(), name="SET_BY_WEB", value="set-by-web-8765").save(force_insert=True)
    assert mask("set-by-web-8765") == "set-by-web-8765"
    signals.task_prerun.send(sender=None, task_id="t-1", task=None, args=(), kwargs={})
    assert mask("set-by-web-8765") == "[masked:SET_BY_WEB]"


@pytest.mark.django_db
def test_rule_13_error_pages_are_masked_before_they_are_sent() -> None:
    registry.clear()
    registry.register("PAGE_SECRET", "page-secret-4321")
    try:
        page = masked_page(HttpResponse("<p>you sent page-secret-4321 &amp; more</p>", status=404))
        assert page.content == b"<p>you sent [masked:PAGE_SECRET] &amp; more</p>"
        untouched = HttpResponse(b"nothing to hide", status=404)
        assert masked_page(untouched).content == b"nothing to hide"
    finally:
        registry.clear()


@pytest.mark.django_db
def test_rule_13_the_403_404_and_500_handlers_answer_with_their_pages(rf) -> None:
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/anything", secure=True)
    request.user = AnonymousUser()
    assert errors.forbidden(request).status_code == 403
    assert b"This request was refused." in errors.forbidden(request).content
    assert b"There is nothing here" in errors.not_found(request).content
    failed = errors.server_error(request)
    assert failed.status_code == 500 and b"nothing was changed" in failed.content
