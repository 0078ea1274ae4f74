"""Watching through every interface: the recipe page's Watch and Stop watching, the Watching page, the
interval on the Settings page, the API and `causeway watches`; what each refuses, said beside its field."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.audit.models import AuditEvent
from causeway.recipes.tests.personas import acme_people
from causeway.watches import selectors
from causeway.watches.models import Watch
from causeway.workspaces.tests.helpers import bearer, fast_hashing, sign_in  # noqa: F401
from testkit.support import field_errors, https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def people() -> dict[str, Any]:
    return acme_people()


def test_a_member_watches_and_stops_watching_on_the_recipe_page(people: dict[str, Any]) -> None:
    client, recipe = sign_in(https_client(), people["operator"]), people["recipe"]
    page = client.get(f"/w/acme/recipes/{recipe.id}").content.decode()
    assert 'id="watch-form"' in page and "at most one message per 15 minutes" in page
    assert client.post(f"/w/acme/recipes/{recipe.id}/watch", {"email": "on"}).status_code == 302
    watch = Watch.objects.get(user=people["operator"])
    assert watch.by_email and watch.connection is None and not watch.include_tests
    page = client.get(f"/w/acme/recipes/{recipe.id}").content.decode()
    assert "You watch this recipe" in page and 'id="unwatch"' in page
    listed = client.get("/w/acme/watching").content.decode()
    assert 'data-recipe="Sync"' in listed and "none yet" in listed
    assert client.post(f"/w/acme/recipes/{recipe.id}/unwatch").status_code == 302
    assert not Watch.objects.exists()
    assert "You watch no recipe yet" in client.get("/w/acme/watching").content.decode()
    actions = AuditEvent.objects.filter(action__startswith="watch.").values_list("action", flat=True)
    assert sorted(actions) == ["watch.added", "watch.removed"]


def test_the_watch_form_says_what_is_wrong_beside_each_field(people: dict[str, Any]) -> None:
    client, recipe = sign_in(https_client(), people["operator"]), people["recipe"]
    answer = client.post(f"/w/acme/recipes/{recipe.id}/watch", {"email": ""})
    assert answer.status_code == 400
    assert field_errors(answer.content.decode(), "email", "id_watch_%s") == [
        "choose email, a connection, or both"
    ]
    answer = client.post(f"/w/acme/recipes/{recipe.id}/watch", {"email": "on", "connection": "nonsense"})
    assert field_errors(answer.content.decode(), "connection", "id_watch_%s") == ["no such connection"]
    assert not Watch.objects.exists()


def test_an_admin_sets_the_interval_on_the_settings_page(people: dict[str, Any]) -> None:
    client = sign_in(https_client(), people["admin"])
    assert 'id="notifications-form"' in client.get("/w/acme/settings").content.decode()
    refused = client.post("/w/acme/settings", {"section": "notifications", "interval_minutes": "0"})
    assert refused.status_code == 400
    assert field_errors(refused.content.decode(), "interval_minutes", "id_notify_%s") == [
        "from 1 to 10080 minutes (7 days)"
    ]
    done = client.post("/w/acme/settings", {"section": "notifications", "interval_minutes": "45"})
    assert done.status_code == 302
    assert selectors.interval_minutes(people["acme"]) == 45
    assert people["acme"].name == "Acme", "the general settings were not touched"


def test_the_api_watches_lists_and_stops(people: dict[str, Any]) -> None:
    api = https_client(**bearer(people["analyst"]))
    base = f"/api/v1/workspaces/{people['acme'].id}"
    recipe = people["recipe"]
    answer = api.put(
        f"{base}/recipes/{recipe.id}/watch", {"include_tests": True}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["email"] is True and answer.json()["include_tests"] is True
    [listed] = api.get(f"{base}/watches").json()
    assert listed["recipe_name"] == "Sync" and listed["last_notice"] is None
    refused = api.put(
        f"{base}/recipes/{recipe.id}/watch",
        {"user_id": str(people["admin"].id)},
        content_type="application/json",
    )
    assert refused.status_code == 422, "unknown fields are refused"
    refused = api.put(f"{base}/recipes/{recipe.id}/watch", {"email": False}, content_type="application/json")
    assert refused.status_code == 400
    other = people["other_recipe"]
    assert api.put(f"{base}/recipes/{other.id}/watch", {}, content_type="application/json").status_code == 404
    assert api.delete(f"{base}/recipes/{recipe.id}/watch").status_code == 204
    assert api.get(f"{base}/watches").json() == []
    assert api.get(f"{base}/notifications").status_code == 403
    admin = https_client(**bearer(people["admin"]))
    put = admin.put(f"{base}/notifications", {"interval_minutes": 5}, content_type="application/json")
    assert put.json() == {"interval_minutes": 5}
    assert admin.get(f"{base}/notifications").json() == {"interval_minutes": 5}


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("watches", *args, stdout=out)
    return out.getvalue()


def test_the_operator_watches_for_a_member_from_the_command_line(people: dict[str, Any]) -> None:
    recipe, email = people["recipe"], people["operator"].email
    assert command("add", "--workspace", "acme", "--recipe", str(recipe.id), "--user", email).startswith(
        f"{email} watches Sync"
    )
    assert command("list", "--workspace", "acme", "--user", email) == f"{recipe.id}\tSync\temail\n"
    event = AuditEvent.objects.get(action="watch.added")
    assert event.actor_type == "system" and event.details["watcher"] == email
    with pytest.raises(CommandError, match="by_email: choose email, a connection, or both"):
        command("add", "--workspace", "acme", "--recipe", str(recipe.id), "--user", email, "--no-email")
    with pytest.raises(CommandError, match="user: no user"):
        command("list", "--workspace", "acme", "--user", "nobody@example.com")
    # The outsider cannot read Acme's recipe: not found, for them as for anyone.
    outsider = people["outsider"].email
    with pytest.raises(CommandError, match="recipe: not found"):
        command("add", "--workspace", "acme", "--recipe", str(recipe.id), "--user", outsider)
    command("remove", "--workspace", "acme", "--recipe", str(recipe.id), "--user", email)
    assert not Watch.objects.exists()
    assert "every 15 minutes" in command("interval", "--workspace", "acme")
    assert "every 30 minutes" in command("interval", "--workspace", "acme", "--minutes", "30")


def test_the_watching_list_brings_each_watchs_last_message_with_it(
    people: dict[str, Any], django_assert_num_queries: Any
) -> None:
    from django.utils import timezone

    from causeway.watches.models import Notice

    now = timezone.now()
    watch = Watch.objects.create(
        workspace=people["acme"], recipe=people["recipe"], user=people["operator"], told_until=now
    )
    for failures in (1, 3):
        Notice.objects.create(watch=watch, channel="email", failures=failures, next_attempt_at=now)
    Notice.objects.filter(failures=1).update(created_at=now - timezone.timedelta(minutes=20))
    (listed,) = selectors.watches_list(people["operator"], people["acme"])
    with django_assert_num_queries(0):
        latest = listed.latest_notice
    assert latest is not None and latest.failures == 3
    assert watch.latest_notice is not None and watch.latest_notice.failures == 3
