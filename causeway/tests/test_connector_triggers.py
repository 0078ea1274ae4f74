"""Connectors' polling triggers: the PostgreSQL "new rows" trigger against this machine's real PostgreSQL,
polled by beat's `poll_tick` as the other poll triggers are. Each new row starts one job, at least once and
never twice; the cursor is kept per recipe (sealed), and the connection is checked for the person who
saved the version (rules 6 and 7) before the database is reached."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db
from django.utils import timezone

from causeway.connections import services
from causeway.connections.models import Connection, ConnectionUse
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.databases import Database, throwaway_database
from causeway.recipes.definition import trigger_load
from causeway.recipes.models import Recipe
from causeway.recipes.services import recipe_save
from causeway.runs.models import Job, TriggerState
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.runs.triggers import poll_tick, recipe_start, trigger_status
from testkit.personas import cast

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with throwaway_database() as made:
        yield made


@pytest.fixture
def signups(database: Database) -> Iterator[Database]:
    with database.owner() as pg:
        pg.execute("DROP TABLE IF EXISTS signups")
        pg.execute("CREATE TABLE signups (id serial PRIMARY KEY, email text NOT NULL, at int NOT NULL)")
        pg.execute(f'ALTER TABLE signups OWNER TO "{database.user}"')
        pg.execute("INSERT INTO signups (email, at) VALUES ('old@example.com', 1)")
    yield database


def add(database: Database, *rows: tuple[str, int]) -> None:
    with database.owner() as pg, pg.cursor() as cursor:
        cursor.executemany("INSERT INTO signups (email, at) VALUES (%s, %s)", list(rows))


@pytest.fixture
def people(database: Database) -> dict[str, Any]:
    people = cast("admin", "analyst").people()
    services.connector_enable(actor=people["admin"], workspace=people["acme"], key="postgres", enabled=True)
    outbound_hosts_set(actor=people["admin"], workspace=people["acme"], hosts=["127.0.0.1"])
    return people


def connection_of(
    people: dict[str, Any], database: Database, owner: str = "admin", **extra: Any
) -> Connection:
    fields: dict[str, Any] = {
        "kind": "personal",
        "connector_key": "postgres",
        "name": f"Signups of {owner}",
        "auth_method": "basic",
        "settings": database.settings(),
        "credentials": database.credentials(),
        "scopes": ["read"],
    }
    fields.update(extra)
    return services.connection_create(actor=people[owner], workspace=people["acme"], **fields)


def trigger(connection: Connection, **given: Any) -> dict[str, Any]:
    return {
        "type": "connector",
        "connection": str(connection.id),
        "trigger": "new_rows",
        "input": {"table": "signups", "cursor": "id", **given},
        "interval_seconds": 60,
    }


class Ticks:
    """Beat's poll ticks, each a little more than the interval after the last."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> list[Job]:
        self.now += timedelta(seconds=61)
        return poll_tick(self.now)


def emails(jobs: list[Job]) -> list[str]:
    return [job.trigger_payload["email"] for job in jobs]


def test_rows_added_after_the_start_each_start_one_job(people: dict[str, Any], signups: Database) -> None:
    recipe = started_recipe(people["admin"], people["acme"], trigger(connection_of(people, signups)))
    tick = Ticks()
    # The first poll starts from now: the rows already there start nothing.
    assert tick() == []
    add(signups, ("a@example.com", 2), ("b@example.com", 3))
    started = tick()
    assert emails(started) == ["a@example.com", "b@example.com"]
    assert {job.trigger_type for job in started} == {"poll"}
    assert started[0].trigger_payload == {"id": 2, "email": "a@example.com", "at": 2}
    assert tick() == []
    add(signups, ("c@example.com", 4))
    assert emails(tick()) == ["c@example.com"]
    assert Job.objects.filter(recipe=recipe).count() == 3
    uses = ConnectionUse.objects.filter(action="new_rows")
    assert {(u.outcome, u.host, u.step_path) for u in uses} == {("succeeded", "127.0.0.1", "trigger")}


def test_since_starts_from_a_value_and_batches_move_the_cursor_row_by_row(
    people: dict[str, Any], signups: Database
) -> None:
    add(signups, ("a@example.com", 2), ("b@example.com", 3), ("c@example.com", 4))
    started_recipe(people["admin"], people["acme"], trigger(connection_of(people, signups), since=1, batch=2))
    tick = Ticks()
    assert emails(tick()) == ["a@example.com", "b@example.com"]
    # What a process stopped after these jobs leaves behind is only the database: the next poll, in any
    # process, goes on from the cursor it stored with the last job.
    state = TriggerState.objects.get()
    with db.cursor() as cursor:
        cursor.execute("SELECT cursor FROM runs_triggerstate")
        (stored,) = cursor.fetchone()
    assert b"signups" not in bytes(stored) and b'"value"' not in bytes(stored)
    assert '"value": 3' in (state.cursor or "")
    assert emails(tick()) == ["c@example.com"]
    assert tick() == []


def test_rows_sharing_a_cursor_value_each_start_once(people: dict[str, Any], signups: Database) -> None:
    """A time as the cursor repeats: rows at the last value are read again, their keys start no second job,
    and a batch boundary never splits rows of one value."""
    connection = connection_of(people, signups)
    started_recipe(
        people["admin"], people["acme"], trigger(connection, cursor="at", key="id", since=1, batch=2)
    )
    add(signups, ("a@example.com", 5), ("b@example.com", 7), ("c@example.com", 7), ("d@example.com", 7))
    tick = Ticks()
    assert emails(tick()) == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    # A row written later with the value already seen is still new.
    add(signups, ("e@example.com", 7))
    assert emails(tick()) == ["e@example.com"]
    assert tick() == []


def test_a_new_version_with_other_settings_starts_afresh(people: dict[str, Any], signups: Database) -> None:
    connection = connection_of(people, signups)
    recipe = started_recipe(people["admin"], people["acme"], trigger(connection))
    tick = Ticks()
    tick()
    add(signups, ("a@example.com", 2))
    assert emails(tick()) == ["a@example.com"]
    recipe_save(
        actor=people["admin"],
        recipe=recipe,
        definition={
            "trigger": trigger(connection, columns=["email"]),
            "steps": recipe.current_version.definition["steps"],
        },
    )

    recipe_start(actor=people["admin"], recipe=Recipe.objects.get(pk=recipe.pk))
    assert tick() == []  # a fresh start: from now
    add(signups, ("b@example.com", 3))
    (job,) = tick()
    assert job.trigger_payload == {"email": "b@example.com", "id": 3}


def test_rule_06_a_trigger_on_someone_elses_personal_connection_is_not_started(
    people: dict[str, Any], signups: Database
) -> None:
    theirs = connection_of(people, signups, owner="analyst")
    recipe = started_recipe(people["admin"], people["acme"], trigger(theirs), start=False)
    with pytest.raises(ValidationError, match="someone else's personal connection"):
        recipe_start(actor=people["admin"], recipe=recipe)
    assert not Recipe.objects.filter(active=True).exists()
    add(signups, ("a@example.com", 2))
    assert Ticks()() == []
    assert not ConnectionUse.objects.exists()


def test_rule_07_a_scope_removed_after_the_start_stops_the_polls(
    people: dict[str, Any], signups: Database
) -> None:
    connection = connection_of(people, signups)
    recipe = started_recipe(people["admin"], people["acme"], trigger(connection))
    tick = Ticks()
    tick()
    services.connection_update(
        actor=people["admin"], workspace=people["acme"], connection_id=connection.id, scopes=["write"]
    )
    add(signups, ("a@example.com", 2))
    assert tick() == []
    status = trigger_status(actor=people["admin"], recipe=recipe)
    assert "the trigger 'new_rows' needs the scope(s) read, not granted to it" in (status.last_error or "")
    assert ConnectionUse.objects.latest("id").outcome == "refused"


def test_bad_settings_are_named_at_the_start_and_a_failing_poll_says_why(
    people: dict[str, Any], signups: Database
) -> None:
    connection = connection_of(people, signups)
    recipe = started_recipe(
        people["admin"],
        people["acme"],
        trigger(connection, table="signups; DROP TABLE signups", batch=0),
        start=False,
    )
    with pytest.raises(ValidationError) as refused:
        recipe_start(actor=people["admin"], recipe=recipe)
    error = refused.value.message_dict["trigger"][0]
    assert "input.table" in error and "input.batch" in error
    assert not Recipe.objects.filter(active=True).exists()
    assert signups.rows("SELECT count(*) FROM signups") == [(1,)]
    # Settings that fit, naming a table the database does not have: the poll says so.
    recipe_save(
        actor=people["admin"],
        recipe=recipe,
        definition={
            "trigger": trigger(connection, table="nope"),
            "steps": recipe.current_version.definition["steps"],
        },
    )
    recipe_start(actor=people["admin"], recipe=Recipe.objects.get(pk=recipe.pk))
    Ticks()()
    assert 'relation "nope" does not exist' in (
        trigger_status(actor=people["admin"], recipe=recipe).last_error or ""
    )


def test_the_definition_describes_connector_triggers(people: dict[str, Any], signups: Database) -> None:

    loaded = trigger_load({"trigger": trigger(connection_of(people, signups)), "steps": []})
    assert loaded.type == "connector" and loaded.interval_seconds == 60
    with pytest.raises(ValidationError) as refused:
        started_recipe(
            people["admin"],
            people["acme"],
            {"type": "connector", "trigger": "New Rows", "interval_seconds": 1},
        )
    message = str(refused.value)
    assert "connection" in message and "trigger" in message and "interval_seconds" in message
