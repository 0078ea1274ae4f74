"""Causeway: a self-hosted integration hub."""

# Tasks declared with @shared_task bind to Causeway's Celery app in every process that imports Django.
from causeway.celery import app as celery_app

__all__ = ["celery_app"]
