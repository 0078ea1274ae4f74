"""The layout every page shares: the workspace sidebar with its Admin section and the current page
marked, no link twice, the Recipes list with its search, filters and pages, confirmations before
what cannot be undone, and error pages that carry the request's id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from causeway.recipes.models import Project
from causeway.recipes.tests.personas import acme_people
from causeway.web.context import section_of
from causeway.web.recipes_views import PROJECTS_PER_PAGE, RECIPES_PER_PAGE, TABLES_PER_PAGE
from causeway.workspaces.tests.helpers import fast_hashing, sign_in  # noqa: F401
from testkit.factories import LookupTableFactory, ProjectFactory, RecipeFactory
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def people() -> dict[str, Any]:
    return acme_people()


def as_user(user: Any) -> Any:
    return sign_in(https_client(), user)


def sidebar(html: str) -> str:
    return html[html.index('<nav class="sidebar"') : html.index("</nav>", html.index('<nav class="sidebar"'))]


def links(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', html)


def current(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)" aria-current="page">', html)


def _names(patterns: Any, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _names(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((entry.name, prefix + str(entry.pattern)))
    return found


def test_every_workspace_page_belongs_to_a_section_of_the_sidebar() -> None:
    web = next(r for r in get_resolver().url_patterns if getattr(r, "app_name", None) == "web")
    workspace_pages = {name for name, route in _names(web.url_patterns) if "workspace>" in route}
    assert "runs_job" in workspace_pages  # the control: the walk finds them
    assert {name for name in workspace_pages if not section_of(name)} == set()


@pytest.mark.parametrize(
    ("path", "marked"),
    [
        ("/w/acme/", "/w/acme/"),
        ("/w/acme/jobs", "/w/acme/jobs"),
        ("/w/acme/recipes", "/w/acme/recipes"),
        ("/w/acme/schedule", "/w/acme/schedule"),
        ("/w/acme/vault", "/w/acme/vault"),
        ("/w/acme/members", "/w/acme/members"),
        ("/w/acme/access/roles", "/w/acme/access/roles"),
        ("/w/acme/access/environments", "/w/acme/access/environments"),
        ("/w/acme/audit", "/w/acme/audit"),
        ("/w/acme/settings", "/w/acme/settings"),
    ],
)
def test_the_sidebar_marks_the_current_page_and_lists_no_link_twice(
    people: dict[str, Any], path: str, marked: str
) -> None:
    page = as_user(people["admin"]).get(path)
    assert page.status_code == 200, path
    html = page.content.decode()
    nav = sidebar(html)
    assert current(nav) == [marked]
    header = html[html.index('<header class="top">') : html.index("</header>")]
    every = links(nav) + links(header)
    # The workspace's name above its sidebar leads to its Dashboard too; nothing else appears twice.
    assert [link for link in set(every) if every.count(link) > 1 and link != "/w/acme/"] == []
    assert every.count("/w/acme/") == 2


def test_a_recipe_and_its_pages_are_in_the_recipes_section(people: dict[str, Any]) -> None:
    client = as_user(people["analyst"])
    recipe = people["recipe"]
    for path in (f"/w/acme/recipes/{recipe.id}", f"/w/acme/recipes/{recipe.id}/build"):
        assert current(sidebar(client.get(path).content.decode())) == ["/w/acme/recipes"], path


def test_the_admin_section_shows_only_what_the_viewer_may_open(people: dict[str, Any]) -> None:
    admin = sidebar(as_user(people["admin"]).get("/w/acme/").content.decode())
    assert {"/w/acme/members", "/w/acme/audit", "/w/acme/settings", "/w/acme/access/roles"} <= set(
        links(admin)
    )
    analyst = sidebar(as_user(people["analyst"]).get("/w/acme/").content.decode())
    assert not {"/w/acme/members", "/w/acme/audit", "/w/acme/settings"} & set(links(analyst))
    assert "/w/acme/access/environments" in links(analyst)
    for link in links(analyst):
        assert as_user(people["analyst"]).get(link).status_code == 200, link


def test_a_page_outside_a_workspace_has_no_sidebar(people: dict[str, Any]) -> None:
    html = as_user(people["admin"]).get("/profile").content.decode()
    assert '<nav class="sidebar"' not in html
    assert re.search(r'<a href="/profile" aria-current="page">Profile</a>', html)


def test_error_pages_show_the_request_id_the_answer_carries(people: dict[str, Any]) -> None:
    client = as_user(people["analyst"])
    missing = client.get("/w/acme/jobs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    html = missing.content.decode()
    assert f'<code id="request-id">{missing["X-Request-ID"]}</code>' in html
    assert 'class="error-page"' in html
    refused = client.get("/w/acme/jobs?status=nope&page=1", headers={})
    assert refused.status_code == 200
    bad = client.get("/w/acme/recipes?state=nope")
    assert bad.status_code == 400 and f'id="request-id">{bad["X-Request-ID"]}<' in bad.content.decode()
    assert "state: one of started, stopped" in bad.content.decode()


def test_the_500_page_is_styled_and_shows_the_request_id(rf: Any) -> None:
    from causeway.audit import context
    from causeway.web import errors

    token = context.activate(context.RequestContext(request_id="abc123"))
    try:
        page = errors.server_error(rf.get("/"))
    finally:
        context.deactivate(token)
    html = page.content.decode()
    assert page.status_code == 500 and 'id="request-id">abc123<' in html and "causeway.css" in html


def test_the_recipes_page_searches_filters_and_pages(people: dict[str, Any]) -> None:
    analyst, project = people["analyst"], people["project"]
    for n in range(RECIPES_PER_PAGE + 2):
        RecipeFactory.create(actor=analyst, project=project, name=f"Batch {n:02d}")
    client = as_user(analyst)
    first = client.get("/w/acme/recipes").content.decode()
    rows = re.findall(r'<tr data-recipe="[^"]+">\s*<td><a href="[^"]+">([^<]+)</a>', first)
    assert len(rows) == RECIPES_PER_PAGE and rows == sorted(rows)
    assert f"Page 1 of 2 · {RECIPES_PER_PAGE + 3} recipes" in first
    second = client.get("/w/acme/recipes?page=2").content.decode()
    assert len(re.findall(r'<tr data-recipe="', second)) == 3 and ">Sync</a>" in second
    found = client.get("/w/acme/recipes?q=batch+1").content.decode()
    assert re.findall(r">(Batch 1\d)</a>", found) == [f"Batch 1{n}" for n in range(10)]
    assert ">Sync</a>" not in found
    started = client.get("/w/acme/recipes?state=started").content.decode()
    assert "No recipe you may see matches these filters" in started
    assert 'id="no-recipes"' in client.get("/w/acme/recipes?environment=prod").content.decode()
    # A page number out of range shows the last page; one that is not a number, the first.
    assert "Page 2 of 2" in client.get("/w/acme/recipes?page=99").content.decode()
    assert "Page 1 of 2" in client.get("/w/acme/recipes?page=abc").content.decode()


def test_the_recipes_page_lists_no_recipe_of_another_workspace(people: dict[str, Any]) -> None:
    html = as_user(people["analyst"]).get("/w/acme/recipes").content.decode()
    assert ">Sync</a>" in html and "Hidden" not in html


def test_every_form_that_deletes_rotates_removes_or_revokes_asks_first() -> None:
    forms = []
    for path in TEMPLATES.rglob("*.html"):
        for tag in re.findall(r"<form [^>]*>", path.read_text()):
            action = re.search(r"\{% url 'web:([a-z_]+)'", tag)
            if action and re.search(r"delete|rotate|remove|revoke", action.group(1)):
                forms.append((path.name, action.group(1), "data-confirm=" in tag))
    assert len(forms) >= 15  # the control: the scan finds them
    assert [(name, route) for name, route, asks in forms if not asks] == []


def test_the_recipes_page_lists_the_projects_a_page_at_a_time_and_keeps_the_recipes_page(
    people: dict[str, Any],
) -> None:
    for n in range(9):
        ProjectFactory.create(actor=people["admin"], workspace=people["acme"], name=f"Batch {n}")
    total = Project.objects.filter(workspace=people["acme"]).count()
    assert total > PROJECTS_PER_PAGE
    client = as_user(people["analyst"])
    first = client.get("/w/acme/recipes").content.decode()
    rows = r'<tr data-project="[^"]+"><td><a href="([^"]+)">'
    shown = re.findall(rows, first)
    assert len(shown) == PROJECTS_PER_PAGE and f"Page 1 of 2 · {total} projects" in first
    assert 'href="?projects_page=2" rel="next"' in first
    second = client.get("/w/acme/recipes?page=1&projects_page=2").content.decode()
    rest = re.findall(rows, second)
    assert len(rest) == total - PROJECTS_PER_PAGE and not set(rest) & set(shown)
    assert 'href="?page=1&amp;projects_page=1" rel="prev"' in second and "Theirs" not in first + second
    # A filter narrows both lists; a page that is not a number is the first.
    assert "projects-pages" not in client.get("/w/acme/recipes?environment=prod").content.decode()
    assert "Page 1 of 2 · " in client.get("/w/acme/recipes?projects_page=abc").content.decode()


def test_the_lookup_tables_page_lists_the_tables_one_may_see_a_page_at_a_time(people: dict[str, Any]) -> None:
    for n in range(TABLES_PER_PAGE):
        LookupTableFactory.create(actor=people["admin"], project=people["project"], name=f"Rates {n:02d}")
    client = as_user(people["analyst"])
    page = client.get("/w/acme/lookup-tables")
    html = page.content.decode()
    assert page.status_code == 200 and current(sidebar(html)) == ["/w/acme/lookup-tables"]
    rows = re.findall(r'<tr data-table="[^"]+"><td><a href="[^"]+">([^<]+)</a>', html)
    assert len(rows) == TABLES_PER_PAGE and rows == sorted(rows) and rows[0] == "Prices"
    assert f"Page 1 of 2 · {TABLES_PER_PAGE + 1} lookup tables" in html
    second = client.get("/w/acme/lookup-tables?page=2").content.decode()
    assert re.findall(r'<tr data-table="[^"]+"><td><a href="[^"]+">([^<]+)</a>', second) == [
        f"Rates {TABLES_PER_PAGE - 1:02d}"
    ]
    # A table's own page is in the same section.
    table = people["table"]
    marked = current(sidebar(client.get(f"/w/acme/lookup-tables/{table.id}").content.decode()))
    assert marked == ["/w/acme/lookup-tables"]
    # An Operator reads no lookup table (rule 4): the page says so; an outsider does not see the workspace.
    empty = as_user(people["operator"]).get("/w/acme/lookup-tables").content.decode()
    assert 'id="no-lookup-tables"' in empty and "Prices" not in empty
    assert as_user(people["outsider"]).get("/w/acme/lookup-tables").status_code == 404
