"""The PostgreSQL connector against this machine's real PostgreSQL: a throwaway database and role per test
module, reached by real jobs' connector steps through the outbound rules."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from causeway.connections import selectors, services
from causeway.connections.models import Connection, ConnectionUse
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.databases import Database, throwaway_database
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, JobStep
from causeway.runs.services import job_create
from testkit.personas import cast

pytestmark = pytest.mark.django_db

PASSWORD = "pg-canary-3e9b71d2"


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with throwaway_database(PASSWORD) as made:
        yield made


@pytest.fixture
def orders(database: Database) -> Iterator[Database]:
    with database.owner() as db:
        db.execute("DROP TABLE IF EXISTS orders")
        db.execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, sku text UNIQUE NOT NULL, qty int NOT NULL, "
            '"order" text, details jsonb, placed timestamptz DEFAULT now())'
        )
        db.execute(f'ALTER TABLE orders OWNER TO "{database.user}"')
        db.execute("INSERT INTO orders (sku, qty) VALUES ('a-1', 1), ('b-2', 2), ('c-3', 3)")
    yield database


@pytest.fixture
def people() -> dict[str, Any]:
    people = cast("admin", "analyst").people(workspace_key="workspace")
    services.connector_enable(
        actor=people["admin"], workspace=people["workspace"], key="postgres", enabled=True
    )
    people["project"] = project_create(actor=people["admin"], workspace=people["workspace"], name="Data")
    return people


def connect(
    people: dict[str, Any], database: Database, *, scopes: list[str] | None = None, **extra: Any
) -> Connection:
    fields: dict[str, Any] = {
        "kind": "personal",
        "connector_key": "postgres",
        "name": "Warehouse",
        "auth_method": "basic",
        "settings": database.settings(),
        "credentials": database.credentials(),
        "scopes": ["read", "write"] if scopes is None else scopes,
    }
    fields.update(extra)
    return services.connection_create(actor=people["analyst"], workspace=people["workspace"], **fields)


def allow_local(people: dict[str, Any]) -> None:
    outbound_hosts_set(actor=people["admin"], workspace=people["workspace"], hosts=["127.0.0.1"])


def run_step(people: dict[str, Any], connection: Connection, action: str, given: dict[str, Any]) -> Job:
    recipe = recipe_create(
        actor=people["analyst"],
        workspace=people["workspace"],
        project=people["project"],
        name=f"PostgreSQL {action} {uuid.uuid4().hex[:8]}",
        definition={
            "trigger": {"type": "manual"},
            "steps": [
                {
                    "id": "db",
                    "type": "connector",
                    "connection": str(connection.id),
                    "action": action,
                    "input": given,
                    "retries": 0,
                },
            ],
        },
    )
    job = job_create(actor=people["analyst"], recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


def output(job: Job) -> Any:
    return JobStep.objects.get(job=job, path="db").output


def test_a_query_sends_values_as_parameters_never_in_the_sql(
    people: dict[str, Any], orders: Database
) -> None:
    allow_local(people)
    connection = connect(people, orders)
    job = run_step(
        people,
        connection,
        "query",
        {
            "sql": "SELECT sku, qty FROM orders WHERE qty >= %(least)s ORDER BY qty",
            "parameters": {"least": 2},
        },
    )
    assert job.status == "succeeded", job.error
    assert output(job)["rows"] == [{"sku": "b-2", "qty": 2}, {"sku": "c-3", "qty": 3}]
    assert output(job)["columns"] == ["sku", "qty"]
    # A value that would break out of a string built into SQL is only a value.
    job = run_step(
        people,
        connection,
        "query",
        {"sql": "SELECT sku FROM orders WHERE sku = %s", "parameters": ["x'; DROP TABLE orders; --"]},
    )
    assert job.status == "succeeded", job.error
    assert output(job)["rows"] == []
    assert orders.rows("SELECT count(*) FROM orders") == [(3,)]


def test_the_sql_text_is_never_a_template(people: dict[str, Any], orders: Database) -> None:
    allow_local(people)
    connection = connect(people, orders)
    job = run_step(people, connection, "query", {"sql": "SELECT * FROM orders WHERE sku = '{{ job.id }}'"})
    assert job.status == "failed"
    assert "input.sql is taken as written and may hold no template" in (job.error or "")
    # Parameters themselves are templates, rendered before they are sent as values.
    job = run_step(
        people,
        connection,
        "query",
        {"sql": "SELECT %(sku)s::text AS sku", "parameters": {"sku": "{{ 'a' ~ '-1' }}"}},
    )
    assert job.status == "succeeded", job.error
    assert output(job)["rows"] == [{"sku": "a-1"}]


def test_query_runs_read_only_and_execute_needs_the_write_scope(
    people: dict[str, Any], orders: Database
) -> None:
    allow_local(people)
    connection = connect(people, orders, scopes=["read"])
    job = run_step(people, connection, "query", {"sql": "DELETE FROM orders"})
    assert job.status == "failed"
    assert "read-only transaction" in (job.error or "")
    job = run_step(people, connection, "execute", {"sql": "DELETE FROM orders"})
    assert job.status == "failed"
    assert "needs the scope(s) write, not granted to it" in (job.error or "")
    job = run_step(people, connection, "insert", {"table": "orders", "rows": [{"sku": "z", "qty": 9}]})
    assert job.status == "failed"
    assert orders.rows("SELECT count(*) FROM orders") == [(3,)]
    assert [u.outcome for u in ConnectionUse.objects.order_by("id")] == ["failed", "refused", "refused"]


def test_insert_quotes_identifiers_and_returns_what_it_is_asked(
    people: dict[str, Any], orders: Database
) -> None:
    allow_local(people)
    connection = connect(people, orders)
    job = run_step(
        people,
        connection,
        "insert",
        {
            "table": "public.orders",
            "rows": [
                {"sku": "d-4", "qty": 4, "order": "rush", "details": {"gift": True}},
                {"sku": "e-5", "qty": "{{ 2 + 3 }}", "order": None, "details": None},
            ],
            "returning": ["id", "sku"],
        },
    )
    assert job.status == "succeeded", job.error
    assert output(job)["row_count"] == 2
    assert [row["sku"] for row in output(job)["rows"]] == ["d-4", "e-5"]
    assert orders.rows(
        "SELECT qty, \"order\", details FROM orders WHERE sku IN ('d-4', 'e-5') ORDER BY qty"
    ) == [
        (4, "rush", {"gift": True}),
        (5, None, None),
    ]


def test_upsert_updates_rows_whose_key_exists(people: dict[str, Any], orders: Database) -> None:
    allow_local(people)
    connection = connect(people, orders)
    job = run_step(
        people,
        connection,
        "upsert",
        {"table": "orders", "key": ["sku"], "rows": [{"sku": "a-1", "qty": 10}, {"sku": "f-6", "qty": 6}]},
    )
    assert job.status == "succeeded", job.error
    assert output(job)["row_count"] == 2
    assert orders.rows("SELECT sku, qty FROM orders ORDER BY sku") == [
        ("a-1", 10),
        ("b-2", 2),
        ("c-3", 3),
        ("f-6", 6),
    ]
    # Only the key: rows that exist are left alone.
    job = run_step(
        people, connection, "upsert", {"table": "orders", "key": ["sku"], "rows": [{"sku": "a-1"}]}
    )
    assert job.status == "failed"  # qty is NOT NULL: a new row would need it, and the statement says so
    job = run_step(
        people, connection, "upsert", {"table": "orders", "key": ["sku"], "rows": [{"sku": "b-2", "qty": 2}]}
    )
    assert job.status == "succeeded", job.error


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"table": "orders; DROP TABLE orders", "rows": [{"sku": "x", "qty": 1}]}, "input.table"),
        ({"table": "orders", "rows": [{'sku"; --': "x"}]}, "input"),
        (
            {"table": "orders", "rows": [{"sku": "x", "qty": 1}, {"sku": "y"}]},
            "every row has the same columns",
        ),
        ({"table": "orders", "rows": []}, "input.rows"),
        ({"table": "orders", "rows": [{"sku": "x"}], "key": ["id"]}, "missing id"),
    ],
)
def test_names_that_are_not_identifiers_are_refused_before_connecting(
    people: dict[str, Any], orders: Database, given: dict[str, Any], named: str
) -> None:
    allow_local(people)
    connection = connect(people, orders)
    action = "upsert" if "key" in given else "insert"
    job = run_step(people, connection, action, given)
    assert job.status == "failed"
    assert named in (job.error or "")
    assert orders.rows("SELECT count(*) FROM orders") == [(3,)]
    assert not ConnectionUse.objects.filter(outcome="succeeded").exists()


def test_the_database_host_goes_through_the_outbound_rules(people: dict[str, Any], orders: Database) -> None:
    connection = connect(people, orders)
    job = run_step(people, connection, "query", {"sql": "SELECT 1 AS one"})
    assert job.status == "failed"
    assert "127.0.0.1 resolves to a loopback address" in (job.error or "")
    use = ConnectionUse.objects.get()
    assert (use.host, use.outcome) == ("127.0.0.1", "failed")
    # The connection test obeys them too.
    tested = services.connection_test(
        actor=people["analyst"], workspace=people["workspace"], connection_id=connection.id
    )
    assert tested.health == "failing" and "loopback" in tested.health_message
    allow_local(people)
    job = run_step(people, connection, "query", {"sql": "SELECT 1 AS one"})
    assert job.status == "succeeded", job.error


def test_test_connection_reports_the_server_or_why_not(people: dict[str, Any], orders: Database) -> None:
    allow_local(people)
    good = connect(people, orders)
    tested = services.connection_test(
        actor=people["analyst"], workspace=people["workspace"], connection_id=good.id
    )
    assert tested.health == "healthy"
    assert (
        tested.health_message.startswith("connected to PostgreSQL ") and orders.user in tested.health_message
    )
    wrong = connect(people, orders, name="Wrong", settings=orders.settings(database="no_such_database"))
    tested = services.connection_test(
        actor=people["analyst"], workspace=people["workspace"], connection_id=wrong.id
    )
    assert tested.health == "failing"
    assert "no_such_database" in tested.health_message
    assert PASSWORD not in tested.health_message
    # Each test sent the credentials: a line of each connection's usage history, for its owner.
    tests = selectors.connection_uses(
        actor=people["analyst"], workspace=people["workspace"], connection_id=good.id
    )
    assert [(u.action, u.host, u.outcome, u.on_behalf_of) for u in tests] == [
        ("test", "127.0.0.1", "succeeded", people["analyst"])
    ]
    (failed,) = selectors.connection_uses(
        actor=people["analyst"], workspace=people["workspace"], connection_id=wrong.id
    )
    assert failed.outcome == "failed" and "no_such_database" in failed.detail


def test_settings_are_checked_and_nothing_is_written(people: dict[str, Any], database: Database) -> None:
    with pytest.raises(ValidationError) as refused:
        connect(
            people,
            database,
            settings={"host": "postgres://db.example.com/x", "database": "a b", "tls": "prefer"},
        )
    errors = refused.value.message_dict
    assert set(errors) == {"settings.host", "settings.database", "settings.tls"}
    with pytest.raises(ValidationError) as refused:
        connect(people, database, credentials={"username": "u"})
    assert refused.value.message_dict == {"credentials.password": ["this field is required"]}
    assert not Connection.objects.exists()


def test_the_password_is_never_shown_again(people: dict[str, Any], database: Database) -> None:
    connection = connect(people, database)
    shown = selectors.connection_detail(
        actor=people["analyst"], workspace=people["workspace"], connection_id=connection.id
    )
    assert shown.credentials == {"User name": database.user, "Password": "••••••••"}
    assert shown.settings == database.settings()


def test_the_command_line_sets_up_and_tests_a_company_database(
    people: dict[str, Any], database: Database, tmp_path: Any
) -> None:
    allow_local(people)
    secret = tmp_path / "warehouse.json"
    secret.write_text(json.dumps(database.credentials()))
    slug = people["workspace"].slug
    out = io.StringIO()
    call_command(
        "connections",
        "create",
        "--workspace",
        slug,
        "--connector",
        "postgres",
        "--name",
        "Warehouse",
        "--auth",
        "basic",
        "--setting",
        f"host={database.host}",
        "--setting",
        f"port={database.port}",
        "--setting",
        f"database={database.name}",
        "--setting",
        "tls=disable",
        "--scopes",
        "read",
        "--credentials-file",
        str(secret),
        stdout=out,
    )
    made = Connection.objects.get()
    assert (made.kind, made.settings["port"], made.granted_scopes) == ("company", database.port, ["read"])
    call_command("connections", "test", "--workspace", slug, str(made.id), stdout=out)
    assert "Warehouse: healthy connected to PostgreSQL" in out.getvalue()
    assert PASSWORD not in out.getvalue()
    with pytest.raises(CommandError, match=r"settings\.port"):
        call_command(
            "connections",
            "create",
            "--workspace",
            slug,
            "--connector",
            "postgres",
            "--name",
            "Bad",
            "--auth",
            "basic",
            "--setting",
            "host=db.example.com",
            "--setting",
            "port=http",
            "--setting",
            "database=x",
            "--credentials-file",
            str(secret),
            stdout=io.StringIO(),
        )
    assert Connection.objects.count() == 1
