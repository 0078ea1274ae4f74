"""Routes for jobs: Run History, a job, a recipe's jobs, Schedule."""

from __future__ import annotations

from django.urls import path

from causeway.web import runs_views as views

urlpatterns = [
    path("w/<slug:workspace>/jobs", views.jobs, name="runs"),
    path("w/<slug:workspace>/jobs/<uuid:job>", views.job, name="runs_job"),
    path("w/<slug:workspace>/jobs/<uuid:job>/rerun", views.job_rerun, name="runs_job_rerun"),
    path("w/<slug:workspace>/recipes/<uuid:recipe>/jobs", views.recipe_jobs, name="runs_recipe_jobs"),
    path("w/<slug:workspace>/schedule", views.schedule_page, name="schedule"),
]
