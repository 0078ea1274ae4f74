"""Rule 13 for connection credentials: a canary token set as a connection's credential through the API of a
real `causeway web`, sent in requests that fail, and used by a job's connector step whose provider echoes it
back, surfaces nowhere: not in the web process's log, an API answer, the job's history, an audit event, this
process's log records, nor any byte of the database (rule 10). Likewise a PostgreSQL role's and an SMTP
account's passwords, used by a job and refused by the mail server, appear in none of those, in no page, in no
byte of the broker, and in no byte of the SQLite file or of `pg_dump` of Causeway's own database."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest

from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.databases import throwaway_database
from causeway.connections.tests.mail import mail_server
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import JobStep
from causeway.runs.services import job_create
from causeway.tests.at_rest import broker_bytes, database_bytes, found_in
from causeway.tests.oauth_kit import CLIENT_SECRET, oauth_kit
from causeway.tests.test_rule_13_secret_canary import WebLog, canary_forms, decoded_views, hidden_in_base64
from causeway.vault.masking import registry
from causeway.workspaces.tokens import token_create
from testkit.support import RunningServer, jobs_seen, make_user, make_workspace, poll_until

# ASCII, since it travels in an HTTP header; with characters that URL-encoding and JSON each change.
CANARY = f"conn-cnry/{uuid.uuid4().hex[:12]}+tok=&k"


def assert_clean(where: str, text: str) -> None:
    for form in canary_forms(CANARY):
        assert form not in text, f"the canary ({form!r}) surfaced in {where}"
    for view in decoded_views(text):
        assert CANARY not in view, f"the canary surfaced in {where}, in a form that decodes to it"
    assert hidden_in_base64(text, CANARY.encode()) == [], f"the canary surfaced base64-encoded in {where}"


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_a_connection_credential_surfaces_nowhere(
    https_server: RunningServer, transactional_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    admin = make_user("admin@example.com")
    owner = make_user("owner@example.com")
    acme = make_workspace("Acme", members={admin: "admin", owner: "analyst"})
    outbound_hosts_set(actor=admin, workspace=acme, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=acme, key="http", enabled=True)
    project = project_create(actor=admin, workspace=acme, name="Integrations")
    _, owner_token = token_create(actor=owner, name="canary", expires_in_days=1)
    _, admin_token = token_create(actor=admin, name="canary", expires_in_days=1)
    log = WebLog(https_server)
    api = f"{https_server.url}/api/v1/workspaces/{acme.id}"
    answers: list[httpx.Response] = []

    def echo(got: Received) -> Answer:
        # A provider that repeats what it was sent, credentials included, and fails the second call.
        status = 500 if got.path.endswith("/fail") else 200
        return Answer(status=status, body={"you_sent": got.headers.get("Authorization", "")})

    with http_server(echo) as provider, httpx.Client(verify=False, timeout=20) as http:  # noqa: S501  # nosec B501
        as_owner = {"Authorization": f"Bearer {owner_token}"}

        def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, url, **kwargs)
            answers.append(answer)
            return answer

        body = {
            "kind": "personal",
            "connector": "http",
            "name": "Canary API",
            "auth_method": "bearer",
            "settings": {"base_url": provider.url},
            "credentials": {"token": CANARY},
            "scopes": ["read"],
        }
        created = call("POST", f"{api}/connections", headers=as_owner, json=body)
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        # Refused bodies carrying it: a field the auth method does not have, a body that does not parse.
        wrong = call(
            "POST",
            f"{api}/connections",
            headers=as_owner,
            json={**body, "credentials": {"token": "x", "password": CANARY}},
        )
        assert wrong.status_code == 400 and "password" in wrong.json()["detail"]
        broken = call(
            "PATCH",
            f"{api}/connections/{connection_id}",
            headers={**as_owner, "Content-Type": "application/json"},
            content=b'{"credentials": {"token": ' + json.dumps(CANARY).encode() + b"}",
        )
        assert broken.status_code in (400, 422)
        replaced = call(
            "PATCH",
            f"{api}/connections/{connection_id}",
            headers=as_owner,
            json={"credentials": {"token": CANARY}},
        )
        assert replaced.status_code == 200
        assert replaced.json()["credentials"] == {"Token": "••••••••"}
        # The Admin sees that it exists, nothing more.
        seen = call(
            "GET", f"{api}/connections/{connection_id}", headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert seen.status_code == 200 and seen.json()["credentials"] == {}

        # A worker that never saw the credential set: it learns it when it opens the connection.
        registry.clear()
        step = {"type": "connector", "connection": connection_id, "action": "get", "retries": 0}
        recipe = recipe_create(
            actor=owner,
            workspace=acme,
            project=project,
            name="Echo",
            definition={
                "trigger": {"type": "manual"},
                "steps": [
                    {**step, "id": "echo", "input": {"path": "/echo"}},
                    {"id": "copy", "type": "map", "fields": {"seen": "{{ steps.echo.body.you_sent }}"}},
                    {**step, "id": "fail", "input": {"path": "/fail"}},
                ],
            },
        )
        job = job_create(actor=owner, recipe=recipe, trigger_type="manual", is_test=True)
        assert runtime.run(job.pk) == "failed"
        assert [r.headers["Authorization"] for r in provider.received] == [f"Bearer {CANARY}"] * 2
        logging.getLogger("causeway.runs.worker").warning(
            "step headers %s", {"Authorization": f"Bearer {CANARY}"}
        )
        history = call("GET", f"{api}/jobs/{job.pk}", headers=as_owner)
        assert history.status_code == 200
        assert "[masked:" in history.text
        marker = f"end-of-canary-{uuid.uuid4().hex}"
        assert http.get(f"{https_server.url}/{marker}").status_code == 404
        web_log = log.until("GET /" + marker)

    assert_clean("the web process's log", web_log)
    assert_clean("this process's log records", "\n".join(r.getMessage() for r in caplog.records))
    for answer in answers:
        assert_clean(f"the answer to {answer.request.method} {answer.request.url.path}", answer.text)
    for row in JobStep.objects.filter(job=job):
        assert_clean(f"the history of step {row.path}", json.dumps([row.input, row.output, row.error]))
    for event in AuditEvent.objects.all():
        assert_clean(f"audit event {event.action}", json.dumps(event.details, default=str))
    assert found_in(database_bytes(), CANARY) == []


# Database and mail passwords: a PostgreSQL role and an SMTP account whose passwords are canaries.
DB_CANARY = f"pg-cnry/{uuid.uuid4().hex[:12]}+pw=&k"
MAIL_CANARY = f"smtp-cnry/{uuid.uuid4().hex[:12]}+pw=&k"


def assert_clean_of(canary: str, where: str, text: str) -> None:
    for form in canary_forms(canary):
        assert form not in text, f"the password ({form!r}) surfaced in {where}"
    for view in decoded_views(text):
        assert canary not in view, f"the password surfaced in {where}, in a form that decodes to it"
    assert hidden_in_base64(text, canary.encode()) == [], f"the password surfaced base64-encoded in {where}"


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_database_and_mail_passwords_surface_nowhere(
    https_server: RunningServer,
    transactional_db: Any,
    caplog: pytest.LogCaptureFixture,
    client: Any,
    tmp_path: Any,
) -> None:
    caplog.set_level(logging.INFO)
    admin = make_user("admin@example.com")
    owner = make_user("owner@example.com")
    acme = make_workspace("Acme", members={admin: "admin", owner: "analyst"})
    outbound_hosts_set(actor=admin, workspace=acme, hosts=["127.0.0.1", "localhost"])
    for key in ("postgres", "smtp"):
        connections.connector_enable(actor=admin, workspace=acme, key=key, enabled=True)
    project = project_create(actor=admin, workspace=acme, name="Integrations")
    _, owner_token = token_create(actor=owner, name="canary", expires_in_days=1)
    log = WebLog(https_server)
    api = f"{https_server.url}/api/v1/workspaces/{acme.id}"
    answers: list[httpx.Response] = []
    # The mail server knows another password: the canary is sent, refused, and must not come back.
    with (
        throwaway_database(DB_CANARY) as database,
        mail_server(tmp_path, password="the-real-one") as mail,
        httpx.Client(verify=False, timeout=20) as http,  # noqa: S501  # nosec B501
    ):
        as_owner = {"Authorization": f"Bearer {owner_token}"}

        def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, url, **kwargs)
            answers.append(answer)
            return answer

        made: dict[str, str] = {}
        bodies = {
            "postgres": {
                "settings": database.settings(),
                "credentials": {"username": database.user, "password": DB_CANARY},
                "scopes": ["read"],
            },
            "smtp": {
                "settings": {
                    "host": "localhost",
                    "port": mail.port,
                    "from_address": "robot@acme.example",
                    "trusted_certificate": mail.certificate,
                },
                "credentials": {"username": mail.user, "password": MAIL_CANARY},
                "scopes": ["send"],
            },
        }
        for key, body in bodies.items():
            created = call(
                "POST",
                f"{api}/connections",
                headers=as_owner,
                json={"kind": "personal", "connector": key, "name": key, "auth_method": "basic", **body},
            )
            assert created.status_code == 201, created.text
            made[key] = created.json()["id"]
            assert created.json()["credentials"]["Password"] == "••••••••"
            tested = call("POST", f"{api}/connections/{made[key]}/test", headers=as_owner)
            assert tested.status_code == 200
        # A database that does not exist: the sign-in fails, with the password in the attempt.
        wrong = call(
            "PATCH",
            f"{api}/connections/{made['postgres']}",
            headers=as_owner,
            json={
                "settings": database.settings(database="nope"),
                "credentials": bodies["postgres"]["credentials"],
            },
        )
        assert wrong.status_code == 200
        assert (
            call("POST", f"{api}/connections/{made['postgres']}/test", headers=as_owner).json()["health"]
            == "failing"
        )
        call(
            "PATCH",
            f"{api}/connections/{made['postgres']}",
            headers=as_owner,
            json={"settings": database.settings()},
        )
        # A refused body carrying it.
        refused = call(
            "POST",
            f"{api}/connections",
            headers=as_owner,
            json={
                "kind": "personal",
                "connector": "smtp",
                "name": "x",
                "auth_method": "basic",
                "settings": {"host": "smtp://x"},
                "credentials": {"password": MAIL_CANARY, "extra": MAIL_CANARY},
            },
        )
        assert refused.status_code == 400

        registry.clear()
        recipe = recipe_create(
            actor=owner,
            workspace=acme,
            project=project,
            name="Query then mail",
            definition={
                "trigger": {"type": "manual"},
                "steps": [
                    {
                        "id": "who",
                        "type": "connector",
                        "connection": made["postgres"],
                        "action": "query",
                        "input": {"sql": "SELECT current_user AS who"},
                        "retries": 0,
                    },
                    {
                        "id": "mail",
                        "type": "connector",
                        "connection": made["smtp"],
                        "action": "send_email",
                        "input": {
                            "to": ["ann@example.com"],
                            "subject": "Hi",
                            "text": "{{ steps.who.rows | length }} rows",
                        },
                        "retries": 0,
                    },
                ],
            },
        )
        job = job_create(actor=owner, recipe=recipe, trigger_type="manual", is_test=True)
        if runtime.run(job.pk) == "skipped":
            poll_until(
                lambda: JobStep.objects.filter(job=job, path="mail").exists(),
                seconds=60,
                what="the job to finish",
                saw=lambda: jobs_seen([job]),
            )
        job.refresh_from_db()
        assert job.status == "failed" and "refused the user name or password" in (job.error or ""), job.error
        assert mail.logins and mail.delivered == []
        history = call("GET", f"{api}/jobs/{job.pk}", headers=as_owner)
        assert history.status_code == 200
        for key in made:
            uses = call("GET", f"{api}/connections/{made[key]}/uses", headers=as_owner)
            assert uses.status_code == 200 and uses.json()
        # The pages: the connection pages, and a connect form refused with a password in it.
        client.force_login(owner)
        pages = [client.get(f"/w/acme/connections/{made[key]}") for key in made]
        pages.append(client.get("/w/acme/connections"))
        pages.append(
            client.post(
                "/w/acme/connections/new",
                {
                    "connector": "postgres",
                    "auth_method": "basic",
                    "kind": "personal",
                    "name": "again",
                    "setting:host": "postgres://x",
                    "setting:database": "d",
                    "cred:username": "u",
                    "cred:password": DB_CANARY,
                },
            )
        )
        assert [p.status_code for p in pages] == [200, 200, 200, 400]
        marker = f"end-of-canary-{uuid.uuid4().hex}"
        assert http.get(f"{https_server.url}/{marker}").status_code == 404
        web_log = log.until("GET /" + marker)

    stored = database_bytes()
    broker = broker_bytes()
    for canary in (DB_CANARY, MAIL_CANARY):
        assert_clean_of(canary, "the web process's log", web_log)
        assert_clean_of(
            canary, "this process's log records", "\n".join(r.getMessage() for r in caplog.records)
        )
        for answer in answers:
            assert_clean_of(
                canary, f"the answer to {answer.request.method} {answer.request.url.path}", answer.text
            )
        for page in pages:
            assert_clean_of(canary, "a page", page.content.decode())
        for row in JobStep.objects.filter(job=job):
            assert_clean_of(
                canary, f"the history of step {row.path}", json.dumps([row.input, row.output, row.error])
            )
        assert_clean_of(canary, "the job's error", job.error or "")
        for event in AuditEvent.objects.all():
            assert_clean_of(canary, f"audit event {event.action}", json.dumps(event.details, default=str))
        assert found_in(stored, canary) == [], "the password is in the database's bytes"
        assert found_in(broker, canary) == [], "the password is in the broker"


# OAuth: access and refresh tokens (the first ones and those a refresh gives), and client secrets.


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_oauth_tokens_and_client_secrets_surface_nowhere(
    https_server: RunningServer, transactional_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    new_secret = f"cs2-cnry/{uuid.uuid4().hex[:12]}+s=&k"
    machine_secret = f"cc-cnry/{uuid.uuid4().hex[:12]}+s=&k"
    log = WebLog(https_server)
    answers: list[httpx.Response] = []
    with oauth_kit() as kit, httpx.Client(verify=False, timeout=20) as http:  # noqa: S501  # nosec B501
        provider = kit.provider
        _, admin_token = token_create(actor=kit.admin, name="canary", expires_in_days=1)
        _, owner_token = token_create(actor=kit.owner, name="canary", expires_in_days=1)
        as_admin, as_owner = (
            {"Authorization": f"Bearer {admin_token}"},
            {"Authorization": f"Bearer {owner_token}"},
        )
        api = f"{https_server.url}/api/v1/workspaces/{kit.workspace.id}"

        def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, url, **kwargs)
            answers.append(answer)
            return answer

        # The Admin replaces the profile's client secret through the API, and the provider learns it.
        replaced = call(
            "PATCH",
            f"{api}/oauth-profiles/{kit.profile.id}",
            headers=as_admin,
            json={"client_secret": new_secret},
        )
        assert replaced.status_code == 200 and replaced.json()["client_secret_set"] is True
        provider.client.client_secret = new_secret
        refused = call(
            "PATCH",
            f"{api}/oauth-profiles/{kit.profile.id}",
            headers=as_admin,
            json={"client_secret": new_secret, "token_url": "ftp://nowhere"},
        )
        assert refused.status_code == 400
        assert call("GET", f"{api}/oauth-profiles", headers=as_owner).status_code == 200

        # The owner signs in (pages), the connection is read and tested through the API.
        browser = kit.browser()
        connection = kit.sign_in(scopes=["read"], client=browser)
        first = dict(connection.credentials)
        assert call("GET", f"{api}/connections/{connection.id}", headers=as_owner).status_code == 200
        assert (
            call("POST", f"{api}/connections/{connection.id}/test", headers=as_owner).json()["health"]
            == "healthy"
        )
        # A machine's own client (client credentials): its secret set through the API, used by a test.
        machine = call(
            "POST",
            f"{api}/connections",
            headers=as_admin,
            json={
                "kind": "company",
                "connector": "oauth2",
                "name": "Machine",
                "auth_method": "oauth2_client",
                "settings": {"base_url": f"{kit.running.url}/api", "token_url": f"{kit.running.url}/token"},
                "credentials": {"client_id": provider.client.client_id, "client_secret": machine_secret},
                "scopes": ["read"],
            },
        )
        assert machine.status_code == 201, machine.text
        provider.client.client_secret = machine_secret
        tested = call("POST", f"{api}/connections/{machine.json()['id']}/test", headers=as_admin)
        assert tested.json()["health"] == "healthy", tested.text
        provider.client.client_secret = new_secret

        # A job whose token the provider stopped honouring: refreshed mid-step; the API echoes it back.
        registry.clear()
        provider.expire_all()
        step = {"type": "connector", "connection": str(connection.id), "retries": 0}
        recipe = recipe_create(
            actor=kit.owner,
            workspace=kit.workspace,
            project=kit.project,
            name="Echo",
            definition={
                "trigger": {"type": "manual"},
                "steps": [
                    {**step, "id": "echo", "action": "get", "input": {"path": "/echo"}},
                    {"id": "copy", "type": "map", "fields": {"seen": "{{ steps.echo.body.you_sent }}"}},
                    {**step, "id": "write", "action": "post", "input": {"path": "/x"}},
                ],
            },
        )
        job = job_create(actor=kit.owner, recipe=recipe, trigger_type="manual", is_test=True)
        assert runtime.run(job.pk) == "failed"
        second = dict(Connection.objects.get(pk=connection.pk).credentials)
        assert provider.refreshes == 1 and second["access_token"] != first["access_token"]
        logging.getLogger("causeway.runs.worker").warning(
            "sent %s", {"Authorization": f"Bearer {second['access_token']}"}
        )
        assert call("GET", f"{api}/jobs/{job.pk}", headers=as_owner).status_code == 200
        assert call("GET", f"{api}/connections/{connection.id}/uses", headers=as_owner).status_code == 200
        pages = [
            browser.get(f"/w/{kit.workspace.slug}/connections/{connection.id}"),
            browser.get(f"/w/{kit.workspace.slug}/connections"),
            browser.get(f"/w/{kit.workspace.slug}/oauth-profiles/{kit.profile.id}"),
            browser.get(f"/w/{kit.workspace.slug}/oauth-profiles"),
            kit.come_back(
                browser, f"/w/{kit.workspace.slug}/oauth/callback?state=x&code={second['refresh_token']}"
            ),
        ]
        assert [p.status_code for p in pages] == [200, 200, 200, 200, 400]
        # Disconnecting sends the refresh token to the provider's revocation endpoint, then forgets it.
        assert call("DELETE", f"{api}/connections/{connection.id}", headers=as_owner).status_code == 204
        assert provider.revocations
        marker = f"end-of-canary-{uuid.uuid4().hex}"
        assert http.get(f"{https_server.url}/{marker}").status_code == 404
        web_log = log.until("GET /" + marker)
        canaries = {
            "the first access token": first["access_token"],
            "the first refresh token": first["refresh_token"],
            "the refreshed access token": second["access_token"],
            "the refreshed refresh token": second["refresh_token"],
            "the profile's first client secret": CLIENT_SECRET,
            "the profile's new client secret": new_secret,
            "a client-credentials secret": machine_secret,
        }

    stored, broker = database_bytes(), broker_bytes()
    steps = list(JobStep.objects.filter(job=job))
    job.refresh_from_db()
    for name, canary in canaries.items():
        assert_clean_of(canary, f"the web process's log ({name})", web_log)
        assert_clean_of(
            canary, f"this process's log ({name})", "\n".join(r.getMessage() for r in caplog.records)
        )
        for answer in answers:
            assert_clean_of(
                canary,
                f"the answer to {answer.request.method} {answer.request.url.path} ({name})",
                answer.text,
            )
        for page in pages:
            assert_clean_of(canary, f"a page ({name})", page.content.decode())
        for row in steps:
            assert_clean_of(
                canary,
                f"the history of step {row.path} ({name})",
                json.dumps([row.input, row.output, row.error]),
            )
        assert_clean_of(canary, f"the job's error ({name})", job.error or "")
        for event in AuditEvent.objects.all():
            assert_clean_of(
                canary, f"audit event {event.action} ({name})", json.dumps(event.details, default=str)
            )
        assert found_in(stored, canary) == [], f"{name} is in the database's bytes"
        assert found_in(broker, canary) == [], f"{name} is in the broker"
