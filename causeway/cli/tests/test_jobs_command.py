"""`causeway jobs`: list, show, run and re-run as the operator's command line; one-line refusals."""

from __future__ import annotations

import json
import subprocess
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.runs.models import Job
from causeway.runs.tests.factories import make_job, make_recipe, make_step
from testkit.personas import cast
from testkit.support import ROOT, causeway_command, make_user, make_workspace, process_env


def run(*args: str) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def world() -> dict[str, Any]:
    people = cast("admin", "analyst", "outsider").people()
    admin, analyst, acme, other = people["admin"], people["analyst"], people["acme"], people["other"]
    sync = make_recipe(admin, acme, "Sync")
    failed = make_job(sync, by=analyst, status="failed", error="the API said no", payload={"order": 7})
    make_step(failed, "s1", 0, input={"url": "https://api.example.com"}, output={"status": 500})
    make_step(failed, "s2", 1, status="failed", error="HTTP 500", duration_ms=40, attempts=3)
    theirs = make_job(make_recipe(people["outsider"], other, "Theirs"), status="failed")
    return {
        "acme": acme,
        "sync": sync,
        "failed": failed,
        "ok": make_job(sync, by=admin),
        "test": make_job(sync, by=admin, is_test=True),
        "theirs": theirs,
    }


@pytest.mark.django_db
def test_list_shows_every_job_of_the_workspace_with_filters(world: dict[str, Any]) -> None:
    lines = run("list", "--workspace", "acme").splitlines()
    assert {line.split("\t")[0] for line in lines} == {str(world[k].pk) for k in ("failed", "ok", "test")}
    failed_line = run("list", "--workspace", "acme", "--status", "failed").splitlines()
    assert [line.split("\t")[0] for line in failed_line] == [str(world["failed"].pk)]
    assert "analyst@example.com" in failed_line[0] and "Sync v1" in failed_line[0]
    only_tests = run("list", "--workspace", "acme", "--test").splitlines()
    assert [line.split("\t")[0] for line in only_tests] == [str(world["test"].pk)]
    assert len(run("list", "--workspace", "acme", "--no-test").splitlines()) == 2
    assert len(run("list", "--workspace", "acme", "--limit", "1").splitlines()) == 1
    assert run("list", "--workspace", "acme", "--since", "2999-01-01") == ""
    assert run("list", "--workspace", "acme", "--recipe", str(world["theirs"].recipe_id)) == ""


@pytest.mark.django_db
def test_show_prints_the_job_and_each_step(world: dict[str, Any]) -> None:
    text = run("show", "--workspace", "acme", str(world["failed"].pk))
    assert "error\tthe API said no" in text
    assert 'payload\t{"order": 7}' in text
    assert "step 0\ts1\thttp\tsucceeded\t12 ms\tattempts 1" in text
    assert '  input\t{"url": "https://api.example.com"}' in text
    assert "step 1\ts2\thttp\tfailed\t40 ms\tattempts 3" in text and "  error\tHTTP 500" in text


@pytest.mark.django_db
def test_run_and_rerun_queue_jobs(world: dict[str, Any], tmp_path: Path) -> None:
    sync = world["sync"]
    output = run("run", "--workspace", "acme", str(sync.pk), "--payload", '{"n": 1}')
    assert output.startswith("Queued run ") and output.endswith(" of Sync.\n")
    job = Job.objects.get(pk=output.split()[2])
    assert (job.trigger_payload, job.is_test, job.trigger_type, job.status) == (
        {"n": 1},
        False,
        "manual",
        "queued",
    )
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"from": "file"}))
    output = run("run", "--workspace", "acme", str(sync.pk), "--test", "--payload-file", str(payload))
    job = Job.objects.get(pk=output.split()[3])
    assert job.is_test and job.trigger_payload == {"from": "file"}
    output = run("rerun", "--workspace", "acme", str(world["failed"].pk))
    rerun = Job.objects.get(rerun_of=world["failed"])
    assert output == f"Queued re-run {rerun.pk} of {world['failed'].pk}.\n"


@pytest.mark.django_db
def test_refusals_name_what_is_wrong(world: dict[str, Any]) -> None:
    cases = [
        (("list", "--workspace", "nowhere"), "workspace: no workspace 'nowhere'"),
        (("show", "--workspace", "acme", str(world["theirs"].pk)), "job: not found in acme"),
        (("show", "--workspace", "acme", str(uuid.uuid4())), "job: not found in acme"),
        (("run", "--workspace", "acme", str(world["theirs"].recipe_id)), "recipe: not found in acme"),
        (
            ("run", "--workspace", "acme", str(world["sync"].pk), "--payload", "[1]"),
            "payload: must be a JSON",
        ),
        (("run", "--workspace", "acme", str(world["sync"].pk), "--payload", "{x"), "payload: not valid JSON"),
        (("rerun", "--workspace", "acme", str(world["ok"].pk)), "only a failed job"),
        (("list", "--workspace", "acme", "--since", "yesterday"), "date: 'yesterday' is not a day"),
        (("list", "--workspace", "acme", "--recipe", "x"), "recipe: 'x' is not a recipe id"),
        (
            ("list", "--workspace", "acme", "--since", "2026-02-01", "--until", "2026-01-01"),
            "until: must not be before since",
        ),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message.replace("[", r"\[")):
            run(*args)
    assert not Job.objects.filter(rerun_of=world["ok"]).exists()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_job_exits_non_zero_with_one_line_on_stderr() -> None:
    make_workspace("Acme", members={make_user("admin@example.com"): "admin"})
    result = subprocess.run(
        causeway_command("jobs", "show", "--workspace", "acme", str(uuid.uuid4())),
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["CommandError: job: not found in acme"]


@pytest.mark.django_db
def test_cancel_ends_a_queued_job_and_refuses_a_finished_one_in_one_line(world: dict[str, Any]) -> None:
    queued = make_job(world["sync"], status="queued")
    assert run("cancel", "--workspace", "acme", str(queued.pk)) == f"Cancelled: job {queued.pk}.\n"
    assert Job.objects.get(pk=queued.pk).status == "cancelled"
    assert "cancelled by\tthe operator" in run("show", "--workspace", "acme", str(queued.pk))
    with pytest.raises(CommandError) as refused:
        run("cancel", "--workspace", "acme", str(world["failed"].pk))
    assert "only a queued or running job can be cancelled" in str(refused.value)
    assert "\n" not in str(refused.value)
