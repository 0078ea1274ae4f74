"""Watching recipes (each person for themselves) and the workspace's notification interval (its Admins')."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.recipes.models import Recipe
from causeway.watches.models import (
    CONNECTOR_ACTIONS,
    INTERVAL_MAX_MINUTES,
    INTERVAL_MIN_MINUTES,
    NotificationSettings,
    Watch,
)
from causeway.watches.selectors import interval_minutes
from causeway.workspaces.models import Workspace

MAX_CHANNEL = 200


def _watcher(actor: Actor, watcher: User | None) -> User:
    """Who watches: the person acting, for themselves; the operator's command line, for a member named.
    Nobody sets another person's watch (each is told only of what they chose)."""
    if isinstance(actor, User) and (watcher is None or watcher.pk == actor.pk):
        return actor
    if policy.is_system(actor) and watcher is not None:
        return watcher
    raise ValidationError({"watch": "only people watch recipes, each for themselves"})


def _connection(user: User, recipe: Recipe, ref: Any, channel: str) -> Connection:
    """The connection named, if the watcher may be told through it: a Slack or HTTP/REST connection that
    a job run on the watcher's behalf could use (rule 6: never another person's personal connection)."""
    try:
        pk = uuid.UUID(str(ref))
    except ValueError:
        raise ValidationError({"connection": "no such connection"}) from None
    found = Connection.objects.filter(workspace_id=recipe.workspace_id, pk=pk).first()
    if found is None or found.connector_key not in CONNECTOR_ACTIONS:
        raise ValidationError({"connection": "no such Slack or HTTP/REST connection"})
    if found.connector_key == "slack" and not channel:
        raise ValidationError({"channel": "a Slack connection needs the channel's id, such as C0123456789"})
    try:
        connections.connection_for_step(
            workspace=recipe.workspace,
            connection_ref=found.pk,
            action_key=CONNECTOR_ACTIONS[found.connector_key],
            on_behalf_of=user,
            job_id=None,
            step_path="watch",
        )
    except connections.ConnectionRefused as exc:
        if found.kind == "personal" and found.owner_id != user.pk:
            # Someone else's personal connection is not even named (rule 9).
            raise ValidationError({"connection": "no such Slack or HTTP/REST connection"}) from None
        raise ValidationError({"connection": str(exc)}) from None
    return found


@transaction.atomic
def watch_set(
    *,
    actor: Actor,
    recipe: Recipe,
    watcher: User | None = None,
    by_email: bool = True,
    connection_id: Any = None,
    channel: str = "",
    include_tests: bool = False,
) -> Watch:
    """Watch the recipe (or change how one is told of its failures): by email, through a connection of
    one's own, or both; test runs only when asked. The watcher must be able to read the recipe."""
    user = _watcher(actor, watcher)
    policy.require(user, Perm.RECIPE_VIEW, recipe, what="recipe", view=Perm.RECIPE_VIEW)
    channel = (channel or "").strip()
    if "\x00" in channel or len(channel) > MAX_CHANNEL:
        raise ValidationError({"channel": f"at most {MAX_CHANNEL} characters, no NUL"})
    connection = _connection(user, recipe, connection_id, channel) if connection_id else None
    if not by_email and connection is None:
        raise ValidationError({"by_email": "choose email, a connection, or both"})
    if connection is None:
        channel = ""
    now = timezone.now()
    watch, created = Watch.objects.get_or_create(
        user=user,
        recipe=recipe,
        defaults={
            "workspace_id": recipe.workspace_id,
            "by_email": by_email,
            "connection": connection,
            "channel": channel,
            "include_tests": include_tests,
            "told_until": now,
        },
    )
    how: dict[str, Any] = {
        "email": by_email,
        "connection": str(connection.pk) if connection else None,
        "include_tests": include_tests,
    }
    if user is not actor:
        # The operator's command line, for a member: the record names whose watch it is.
        how["watcher"] = user.email
    if created:
        audit_record(
            actor=actor, action="watch.added", target=recipe, workspace_id=recipe.workspace_id, details=how
        )
        return watch
    before: dict[str, Any] = {
        "email": watch.by_email,
        "connection": str(watch.connection_id) if watch.connection_id else None,
        "include_tests": watch.include_tests,
    }
    if "watcher" in how:
        before["watcher"] = how["watcher"]
    if before != how or watch.channel != channel:
        watch.by_email, watch.connection, watch.channel = by_email, connection, channel
        watch.include_tests = include_tests
        watch.save(update_fields=["by_email", "connection", "channel", "include_tests"])
        audit_record(
            actor=actor,
            action="watch.changed",
            target=recipe,
            workspace_id=recipe.workspace_id,
            details={"from": before, "to": how},
        )
    return watch


@transaction.atomic
def watch_remove(*, actor: Actor, recipe: Recipe, watcher: User | None = None) -> None:
    """Stop watching the recipe; nothing more is sent, not even a message already waiting."""
    user = _watcher(actor, watcher)
    policy.require(user, Perm.RECIPE_VIEW, recipe, what="recipe", view=Perm.RECIPE_VIEW)
    deleted, _ = Watch.objects.filter(user=user, recipe=recipe).delete()
    if deleted:
        details = {"watcher": user.email} if user is not actor else {}
        audit_record(
            actor=actor,
            action="watch.removed",
            target=recipe,
            workspace_id=recipe.workspace_id,
            details=details,
        )


def _clean_interval(minutes: Any) -> int:
    try:
        value = int(minutes)
    except (TypeError, ValueError):
        raise ValidationError({"interval_minutes": "a whole number of minutes"}) from None
    if not INTERVAL_MIN_MINUTES <= value <= INTERVAL_MAX_MINUTES:
        raise ValidationError(
            {"interval_minutes": f"from {INTERVAL_MIN_MINUTES} to {INTERVAL_MAX_MINUTES} minutes (7 days)"}
        )
    return value


@transaction.atomic
def notification_interval_set(*, actor: Actor, workspace: Workspace, minutes: Any) -> int:
    """Set the least time between two messages of one watch (rule 3: the workspace's Admins)."""
    policy.require_in(actor, workspace, Perm.NOTIFICATION_MANAGE)
    value = _clean_interval(minutes)
    previous = interval_minutes(workspace)
    NotificationSettings.objects.update_or_create(workspace=workspace, defaults={"interval_minutes": value})
    if value != previous:
        audit_record(
            actor=actor,
            action="notifications.settings_changed",
            target=workspace,
            workspace_id=workspace.id,
            details={"changes": {"interval_minutes": {"from": previous, "to": value}}},
        )
    return value
