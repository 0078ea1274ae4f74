"""Routes for jobs: Run History, a job, a recipe's jobs, Schedule."""

from __future__ import annotations

from django.urls import path

from causeway.web import runs_views as views

urlpatterns = [
    path("w/<slug:workspace>/jobs", views.jobs, name="runs"),
    path("w/<slug:workspace>/jobs/<uuid:job>", views.job, name="runs_job"),
    path("w/<slug:workspace>/jobs/<uuid:job>/rerun", views.job_rerun, name="runs_job_rerun"),
    path("w/<slug:workspace>/jobs/<uuid:job>/cancel", views.job_cancel, name="runs_job_cancel"),
    path("w/<slug:workspace>/jobs/<uuid:job>/data", views.job_data, name="runs_job_data"),
    path("w/<slug:workspace>/break-glass", views.break_glass, name="break_glass"),
    path(
        "w/<slug:workspace>/break-glass/<uuid:session>/approve",
        views.break_glass_approve,
        name="break_glass_approve",
    ),
    path(
        "w/<slug:workspace>/break-glass/<uuid:session>/withdraw",
        views.break_glass_withdraw,
        name="break_glass_withdraw",
    ),
    path(
        "w/<slug:workspace>/break-glass/<uuid:session>/refuse",
        views.break_glass_refuse,
        name="break_glass_refuse",
    ),
    path("w/<slug:workspace>/break-glass/<uuid:session>/end", views.break_glass_end, name="break_glass_end"),
    path("w/<slug:workspace>/break-glass/settings", views.break_glass_settings, name="break_glass_settings"),
    path("w/<slug:workspace>/recipes/<uuid:recipe>/jobs", views.recipe_jobs, name="runs_recipe_jobs"),
    path("w/<slug:workspace>/schedule", views.schedule_page, name="schedule"),
]
