"""The jobs API: lists and jobs filtered by rule 8, runs and re-runs through the runtime, the Schedule."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from causeway.recipes import grants
from causeway.recipes.models import RecipeGrant
from causeway.runs.models import Job, JobStatus, TriggerType
from causeway.runs.tests.factories import (
    make_job,
    make_recipe,
    make_step,
    people_may_execute_in_dev,
    schedule_definition,
    without_job_history,
)
from causeway.runs.triggers import recipe_start
from causeway.workspaces.tests.helpers import bearer, fast_hashing  # noqa: F401
from testkit.personas import cast
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API = "/api/v1"


class Caller:
    def __init__(self, user: Any) -> None:
        self.client = https_client(**bearer(user))

    def get(self, path: str) -> Any:
        return self.client.get(API + path)

    def post(self, path: str, body: Any = None) -> Any:
        data = body if isinstance(body, str) else json.dumps(body if body is not None else {})
        return self.client.post(API + path, data, content_type="application/json")


@pytest.fixture
def people() -> dict[str, Any]:
    people = cast("admin", "analyst", "operator", "outsider").people()
    admin, analyst, operator, outsider = (people[k] for k in ("admin", "analyst", "operator", "outsider"))
    acme, other = people["acme"], people["other"]
    sync = make_recipe(admin, acme, "Sync")
    jobs = {
        "analyst": make_job(sync, by=analyst, status="failed", error="the API said no"),
        "operator": make_job(sync, by=operator, status="failed", error="boom"),
        "admin": make_job(sync, by=admin),
        "schedule": make_job(sync, trigger_type="schedule"),
    }
    foreign = make_job(make_recipe(outsider, other, "Theirs"), by=outsider, status="failed")
    return {
        **people,
        "sync": sync,
        "jobs": jobs,
        "foreign": foreign,
    }


def item_ids(answer: Any) -> set[str]:
    return {item["id"] for item in answer.json()["items"]}


def ids(*jobs: Job) -> set[str]:
    return {str(job.pk) for job in jobs}


def ws(people: dict[str, Any]) -> str:
    return f"/workspaces/{people['acme'].pk}"


@pytest.mark.parametrize("who", ["analyst", "operator"])
def test_rule_04_the_api_lists_every_job_of_their_recipes_to_analysts_and_operators(
    people: dict[str, Any], who: str
) -> None:
    jobs = {**people["jobs"], "webhook": make_job(people["sync"], trigger_type="webhook")}
    caller = Caller(people[who])
    answer = caller.get(f"{ws(people)}/jobs")
    assert item_ids(answer) == ids(*jobs.values()) and answer.json()["count"] == len(jobs)
    for trigger in ("schedule", "webhook"):
        one = caller.get(f"{ws(people)}/jobs/{jobs[trigger].pk}")
        assert one.status_code == 200
        assert one.json()["run_by_user_id"] is None and one.json()["run_by_service_account_id"] is None
    assert caller.get(f"{ws(people)}/jobs/{people['foreign'].pk}").status_code == 404


def test_rule_08_the_api_lists_only_ones_own_jobs_without_debug(people: dict[str, Any]) -> None:
    jobs = people["jobs"]
    without_job_history(people["acme"], people["analyst"])
    analyst = Caller(people["analyst"])
    answer = analyst.get(f"{ws(people)}/jobs")
    assert answer.status_code == 200
    assert item_ids(answer) == ids(jobs["analyst"]) and answer.json()["count"] == 1
    assert analyst.get(f"{ws(people)}/jobs/{jobs['admin'].pk}").status_code == 404
    assert analyst.get(f"{ws(people)}/jobs/{jobs['schedule'].pk}").status_code == 404
    assert item_ids(Caller(people["admin"]).get(f"{ws(people)}/jobs")) == ids(*jobs.values())
    RecipeGrant.objects.create(
        workspace=people["acme"], recipe=people["sync"], user=people["analyst"], read=True, debug=True
    )
    assert item_ids(analyst.get(f"{ws(people)}/jobs")) == ids(*jobs.values())
    assert analyst.get(f"{ws(people)}/jobs/{jobs['admin'].pk}").status_code == 200


def test_a_job_comes_with_its_steps_in_order(people: dict[str, Any]) -> None:
    job = people["jobs"]["analyst"]
    job.trigger_payload = {"order": 42}
    job.save()
    make_step(job, "s2", 1, step_type="map", output={"total": 3})
    make_step(job, "s1", 0, input={"url": "https://api.example.com"}, output={"status": 200})
    make_step(job, "s3", 2, status="failed", error="HTTP 500", attempts=3, duration_ms=40)
    rerun = make_job(people["sync"], by=people["analyst"], rerun_of=job)
    answer = Caller(people["analyst"]).get(f"{ws(people)}/jobs/{job.pk}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "failed" and body["error"] == "the API said no"
    assert body["run_by"] == "analyst@example.com" and body["run_by_user_id"] == str(people["analyst"].pk)
    assert body["trigger_payload"] == {"order": 42} and body["reruns"] == [str(rerun.pk)]
    assert [s["path"] for s in body["steps"]] == ["s1", "s2", "s3"]
    assert body["steps"][0]["input"] == {"url": "https://api.example.com"}
    assert body["steps"][1]["output"] == {"total": 3}
    assert body["steps"][2] | {"started_at": None, "finished_at": None} == {
        "path": "s3",
        "position": 2,
        "step_type": "http",
        "status": "failed",
        "attempts": 3,
        "duration_ms": 40,
        "input": None,
        "output": None,
        "error": "HTTP 500",
        "started_at": None,
        "finished_at": None,
    }


def test_filters_and_pages(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    jobs = people["jobs"]
    other = make_recipe(people["admin"], people["acme"], "Other recipe")
    tested = make_job(other, by=people["admin"], is_test=True)
    old = make_job(other, by=people["admin"], created_at=timezone.now() - dt.timedelta(days=40))
    base = f"{ws(people)}/jobs"
    assert item_ids(admin.get(f"{base}?status=failed")) == ids(jobs["analyst"], jobs["operator"])
    assert item_ids(admin.get(f"{base}?trigger_type=schedule")) == ids(jobs["schedule"])
    assert item_ids(admin.get(f"{base}?test=true")) == ids(tested)
    assert str(tested.pk) not in item_ids(admin.get(f"{base}?test=false"))
    assert item_ids(admin.get(f"{base}?recipe={other.pk}")) == ids(tested, old)
    today = timezone.now().date()
    assert item_ids(admin.get(f"{base}?recipe={other.pk}&until={today - dt.timedelta(days=30)}")) == ids(old)
    assert item_ids(admin.get(f"{base}?recipe={other.pk}&since={today}")) == ids(tested)
    first = admin.get(f"{base}?page_size=4").json()
    second = admin.get(f"{base}?page_size=4&page=2").json()
    assert (first["count"], first["pages"], len(first["items"])) == (6, 2, 4)
    assert (second["page"], len(second["items"])) == (2, 2)
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    for bad in (
        "status=exploded",
        "page=0",
        "page_size=1000",
        "since=2026-02-01&until=2026-01-01",
        "since=x",
    ):
        assert admin.get(f"{base}?{bad}").status_code in (400, 422), bad
    backwards = admin.get(f"{base}?since=2026-02-01&until=2026-01-01")
    assert (backwards.status_code, backwards.json()["detail"]) == (400, "until: must not be before since")


def test_every_trigger_and_status_the_model_knows_is_a_filter_and_the_schema_says_so(
    people: dict[str, Any],
) -> None:
    admin = Caller(people["admin"])
    endpoint = make_job(people["sync"], by=people["admin"], trigger_type=TriggerType.API_ENDPOINT)
    assert item_ids(admin.get(f"{ws(people)}/jobs?trigger_type=api_endpoint")) == ids(endpoint)
    for value in TriggerType.values:
        assert admin.get(f"{ws(people)}/jobs?trigger_type={value}").status_code == 200, value
    for value in JobStatus.values:
        assert admin.get(f"{ws(people)}/jobs?status={value}").status_code == 200, value
    document = admin.get("/openapi.json").json()
    (operation,) = (
        op["get"] for path, op in document["paths"].items() if path.endswith("/jobs") and "get" in op
    )
    enums = {}
    for parameter in operation["parameters"]:
        schema = parameter["schema"]
        for option in schema.get("anyOf", [schema]):
            while "$ref" in option:
                option = document["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
            if "enum" in option:
                enums[parameter["name"]] = option["enum"]
    assert enums == {"status": JobStatus.values, "trigger_type": TriggerType.values}


def test_cross_workspace_ids_are_not_found(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    foreign = people["foreign"]
    assert admin.get(f"{ws(people)}/jobs/{foreign.pk}").status_code == 404
    assert admin.post(f"{ws(people)}/jobs/{foreign.pk}/rerun").status_code == 404
    assert admin.post(f"{ws(people)}/recipes/{foreign.recipe_id}/jobs", {}).status_code == 404
    assert item_ids(admin.get(f"{ws(people)}/jobs?recipe={foreign.recipe_id}")) == set()
    assert Caller(people["outsider"]).get(f"{ws(people)}/jobs").status_code == 404
    assert not Job.objects.filter(rerun_of=foreign).exists()
    assert Job.objects.filter(recipe_id=foreign.recipe_id).count() == 1


def test_rule_05_operator_tests_a_recipe_in_dev_and_runs_it_only_once_dev_allows_execute(
    people: dict[str, Any],
) -> None:
    operator = Caller(people["operator"])
    sync = people["sync"]
    path = f"{ws(people)}/recipes/{sync.pk}/jobs"
    before = Job.objects.filter(recipe=sync).count()
    refused = operator.post(path, {"payload": {"n": 1}})
    assert refused.status_code == 403 and refused.json()["permission"] == "recipe:run"
    assert Job.objects.filter(recipe=sync).count() == before
    answer = operator.post(path, {"test": True})
    assert answer.status_code == 201 and answer.json()["is_test"] is True
    people_may_execute_in_dev(people["admin"], people["acme"])
    answer = operator.post(path, {"payload": {"n": 1}})
    assert answer.status_code == 201
    body = answer.json()
    assert (body["status"], body["is_test"], body["trigger_type"]) == ("queued", False, "manual")
    assert body["run_by_user_id"] == str(people["operator"].pk)
    assert Job.objects.get(pk=body["id"]).trigger_payload == {"n": 1}
    assert str(body["id"]) in item_ids(operator.get(f"{ws(people)}/jobs"))


def test_run_input_is_checked(people: dict[str, Any]) -> None:
    analyst = Caller(people["analyst"])
    path = f"{ws(people)}/recipes/{people['sync'].pk}/jobs"
    before = Job.objects.count()
    for bad in ({"payload": [1, 2]}, {"test": "maybe"}, {"run_by_user": str(people["admin"].pk)}, "{nope"):
        assert analyst.post(path, bad).status_code in (400, 422), bad
    assert Job.objects.count() == before


def test_rule_04_operator_reruns_only_jobs_it_may_see(people: dict[str, Any]) -> None:
    without_job_history(people["acme"], people["operator"])
    operator = Caller(people["operator"])
    jobs = people["jobs"]
    assert operator.post(f"{ws(people)}/jobs/{jobs['analyst'].pk}/rerun").status_code == 404
    # Re-running is running: refused until an Admin lets people execute in DEV (rule 5).
    refused = operator.post(f"{ws(people)}/jobs/{jobs['operator'].pk}/rerun")
    assert refused.status_code == 403 and refused.json()["permission"] == "recipe:run"
    people_may_execute_in_dev(people["admin"], people["acme"])
    answer = operator.post(f"{ws(people)}/jobs/{jobs['operator'].pk}/rerun")
    assert answer.status_code == 201
    assert answer.json()["rerun_of"] == str(jobs["operator"].pk)
    assert Caller(people["admin"]).post(f"{ws(people)}/jobs/{jobs['admin'].pk}/rerun").status_code == 400


def test_rule_04_operator_cannot_run_in_prod(people: dict[str, Any]) -> None:
    prod = make_recipe(people["admin"], people["acme"], "Prod recipe", environment="prod")
    answer = Caller(people["operator"]).post(f"{ws(people)}/recipes/{prod.pk}/jobs", {})
    assert answer.status_code == 403 and answer.json()["permission"] == "recipe:run"
    assert not Job.objects.filter(recipe=prod).exists()


def test_schedule_list(people: dict[str, Any]) -> None:
    daily = make_recipe(
        people["admin"], people["acme"], "Daily", definition=schedule_definition("30 6 * * *", "Asia/Tokyo")
    )
    recipe_start(actor=people["admin"], recipe=daily)
    answer = Caller(people["operator"]).get(f"{ws(people)}/schedule")
    assert answer.status_code == 200
    [row] = answer.json()
    assert (row["recipe_id"], row["cron"], row["timezone"], row["missed"]) == (
        str(daily.pk),
        "30 6 * * *",
        "Asia/Tokyo",
        "skip",
    )
    runs = [dt.datetime.fromisoformat(value) for value in row["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs)
    assert all(
        when.utcoffset() == dt.timedelta(hours=9) and (when.hour, when.minute) == (6, 30) for when in runs
    )


def test_rule_08_a_service_account_runs_what_it_may_execute_and_reads_only_its_own_jobs(
    people: dict[str, Any],
) -> None:
    from causeway.access import services as access_services

    acme, sync, admin = people["acme"], people["sync"], people["admin"]
    robot = access_services.service_account_create(actor=admin, workspace=acme, name="robot")
    grants.grant_set(
        actor=admin, workspace=acme, recipe=sync, service_account=robot, capabilities=["execute"]
    )
    _, secret = access_services.service_account_token_create(
        actor=admin, workspace=acme, account=robot, name="ci", expires_in_days=1
    )
    client = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    base = f"{API}{ws(people)}"
    assert client.get(f"{base}/jobs").json()["count"] == 0
    answer = client.post(
        f"{base}/recipes/{sync.pk}/jobs", json.dumps({"payload": {"n": 2}}), content_type="application/json"
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["run_by_service_account_id"] == str(robot.pk) and body["run_by"] == "service account robot"
    assert item_ids(client.get(f"{base}/jobs")) == {body["id"]}
    assert client.get(f"{base}/jobs/{body['id']}").status_code == 200
    assert client.get(f"{base}/jobs/{people['jobs']['analyst'].pk}").status_code == 404
    other = make_recipe(admin, acme, "Not granted")
    assert (
        client.post(f"{base}/recipes/{other.pk}/jobs", "{}", content_type="application/json").status_code
        == 404
    )
    Job.objects.filter(pk=body["id"]).update(status="failed")
    assert client.post(f"{base}/jobs/{body['id']}/rerun").status_code == 403
    assert client.get(f"{base}/schedule").status_code == 403


def test_rule_08_a_service_account_may_not_make_test_runs(people: dict[str, Any]) -> None:
    from causeway.access import services as access_services

    acme, sync, admin = people["acme"], people["sync"], people["admin"]
    robot = access_services.service_account_create(actor=admin, workspace=acme, name="robot")
    grants.grant_set(
        actor=admin, workspace=acme, recipe=sync, service_account=robot, capabilities=["execute"]
    )
    _, secret = access_services.service_account_token_create(
        actor=admin, workspace=acme, account=robot, name="ci", expires_in_days=1
    )
    client = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    path = f"{API}{ws(people)}/recipes/{sync.pk}/jobs"
    before = Job.objects.count()
    # Test runs are `recipe:test`, which a service account never holds: refused, naming it, since the
    # account knows the recipe it may run.
    answer = client.post(path, json.dumps({"test": True}), content_type="application/json")
    assert answer.status_code == 403 and answer.json()["permission"] == "recipe:test"
    assert Job.objects.count() == before
    other = make_recipe(admin, acme, "Not granted")
    hidden = client.post(
        f"{API}{ws(people)}/recipes/{other.pk}/jobs",
        json.dumps({"test": True}),
        content_type="application/json",
    )
    assert hidden.status_code == 404
    assert client.post(path, "{}", content_type="application/json").status_code == 201


def test_a_queued_job_is_cancelled_through_the_api_and_a_finished_one_is_a_conflict(
    people: dict[str, Any],
) -> None:
    people_may_execute_in_dev(people["admin"], people["acme"])
    analyst = Caller(people["analyst"])
    queued = make_job(people["sync"], by=people["analyst"], status="queued")
    answer = analyst.post(f"{ws(people)}/jobs/{queued.pk}/cancel")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["status"], body["cancelled_by"]) == ("cancelled", people["analyst"].email)
    assert body["error"] == f"cancelled by {people['analyst'].email}" and body["cancel_requested_at"]
    assert analyst.post(f"{ws(people)}/jobs/{queued.pk}/cancel").status_code == 409
    assert analyst.post(f"{ws(people)}/jobs/{people['jobs']['analyst'].pk}/cancel").status_code == 409
    assert analyst.post(f"{ws(people)}/jobs/{people['foreign'].pk}/cancel").status_code == 404
    listed = analyst.get(f"{ws(people)}/jobs?status=cancelled").json()["items"]
    assert [item["id"] for item in listed] == [str(queued.pk)]


def test_a_job_names_the_attempt_it_retries_and_the_retry_that_followed_it(people: dict[str, Any]) -> None:
    first = people["jobs"]["analyst"]
    retry = make_job(
        people["sync"], by=people["analyst"], retry_of=first, retry_number=1, first_attempt=first
    )
    analyst = Caller(people["analyst"])
    body = analyst.get(f"{ws(people)}/jobs/{retry.pk}").json()
    assert (body["retry_of"], body["retry_number"]) == (str(first.pk), 1)
    assert analyst.get(f"{ws(people)}/jobs/{first.pk}").json()["retry"] == str(retry.pk)
