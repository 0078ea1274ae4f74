"""The Build page of a 40-step recipe: the server's time to render it, and what a first load of it
weighs in script and style.

The recipe has a trigger and 40 steps: 34 in a row, a condition with a step in each branch, and a
for-each with two steps in its body; its latest job ran them all. The page is asked through Django's
test client in this process (SQLite, no network), as a signed-in Admin; the figure is the median of
RUNS renders after a warm-up. The script and style are the files the page links, as served.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from typing import Any

from bench.cpu import _setup_django

RUNS = 20
WARM_UP = 3
BUDGET_KB = 200


def _definition() -> dict[str, Any]:
    row = [
        {"id": f"m{n}", "type": "map", "fields": {"n": f"{{{{ trigger.n + {n} }}}}"}} for n in range(1, 35)
    ]
    condition = {
        "id": "check",
        "type": "condition",
        "if": "{{ steps.m1.n > 1 }}",
        "then": [{"id": "big", "type": "map", "fields": {"size": "big"}}],
        "else": [{"id": "small", "type": "map", "fields": {"size": "small"}}],
    }
    loop = {
        "id": "each",
        "type": "foreach",
        "items": "{{ [1, 2, 3] }}",
        "steps": [
            {"id": "double", "type": "map", "fields": {"v": "{{ item * 2 }}"}},
            {"id": "triple", "type": "map", "fields": {"v": "{{ item * 3 }}"}},
        ],
    }
    return {"trigger": {"type": "manual"}, "steps": [*row, condition, loop]}


def _setup() -> tuple[Any, str]:
    from causeway.accounts.models import User
    from causeway.recipes.services import project_create, recipe_create
    from causeway.runs import runtime
    from causeway.runs.models import TriggerType
    from causeway.runs.services import job_create
    from causeway.workspaces.models import Membership, Role, Workspace

    admin = User.objects.create_user(
        email=f"bench-{uuid.uuid4().hex[:8]}@example.com", password=None, first_name="Bench", last_name="Mark"
    )
    workspace = Workspace.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
    Membership.objects.create(
        workspace=workspace, user=admin, role=Role.objects.get(workspace=None, key="admin")
    )
    project = project_create(actor=admin, workspace=workspace, name="Bench")
    recipe = recipe_create(
        actor=admin, workspace=workspace, project=project, name="Forty steps", definition=_definition()
    )
    job = job_create(
        actor=admin, recipe=recipe, trigger_type=TriggerType.MANUAL, payload={"n": 1}, is_test=True
    )
    runtime.run(job.pk)
    return admin, f"/w/{workspace.slug}/recipes/{recipe.pk}/build"


def _static_kb(html: str) -> float:
    from django.contrib.staticfiles import finders

    total = 0
    for path in re.findall(r'<(?:script src|link rel="stylesheet" href)="/static/([^"]+)"', html):
        found = finders.find(path)
        if found is None:
            raise RuntimeError(f"the page links {path}, which is not served")
        with open(found, "rb") as asset:
            total += len(asset.read())
    return total / 1024


def measure() -> dict[str, float]:
    _setup_django()
    from django.test import Client

    admin, url = _setup()
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    for _ in range(WARM_UP):
        client.get(url, secure=True)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        answer = client.get(url, secure=True)
        times.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"the Build page answered {answer.status_code}")
    html = answer.content.decode()
    if html.count('class="flow-node') != 41:
        raise RuntimeError("the flow does not show the trigger and the 40 steps")
    return {
        "render_ms": statistics.median(times),
        "html_kb": len(answer.content) / 1024,
        "static_kb": _static_kb(html),
    }


def main() -> None:
    figures = measure()
    print(f"Build page of a 40-step recipe (SQLite, in process, median of {RUNS}):")
    print(f"  server render      {figures['render_ms']:8.1f} ms   ({figures['html_kb']:.0f} KB of HTML)")
    print(f"  script and style   {figures['static_kb']:8.1f} KB   on a first load (budget {BUDGET_KB} KB)")
