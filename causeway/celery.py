"""The Celery application shared by `causeway worker` and `causeway beat`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")

app = Celery("causeway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
