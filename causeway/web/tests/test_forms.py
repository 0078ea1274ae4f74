"""Page input is read through Django forms only, and a refused form shows each error beside its field."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from causeway.recipes import roles, selectors, services
from causeway.recipes.models import Project
from causeway.recipes.secrets import secret_write
from causeway.vault.models import Secret
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.factories import LookupTableFactory
from testkit.support import STRONG_PASSWORD, make_user, make_workspace

WEB = Path(__file__).resolve().parent.parent


def _reads_by_hand(tree: ast.AST) -> list[int]:
    """Lines where posted input is used other than as an argument of a form's constructor."""
    handed_to_forms = {
        id(arg)
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.endswith("Form")
        for arg in [*call.args, *(k.value for k in call.keywords)]
    }
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("POST", "FILES")
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
        and id(node) not in handed_to_forms
    )


def test_no_page_reads_posted_input_by_hand() -> None:
    found = {
        str(path.relative_to(WEB)): lines
        for path in sorted(WEB.glob("*.py"))
        if (lines := _reads_by_hand(ast.parse(path.read_text(), filename=str(path))))
    }
    assert found == {}


def test_the_check_finds_input_read_by_hand() -> None:
    source = (
        "def view(request):\n"
        "    form = NameForm(request.POST)\n"
        "    name = request.POST.get('name')\n"
        "    kinds = request.POST.getlist('kind')\n"
        "    upload = request.FILES['file']\n"
    )
    assert _reads_by_hand(ast.parse(source)) == [3, 4, 5]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_a_bad_input_shows_its_error_beside_the_field_and_changes_nothing(
    https_server: Any, transactional_db: Any
) -> None:
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin"})
    billing = services.project_create(actor=admin, workspace=acme, name="Billing")
    prices = LookupTableFactory.create(
        actor=admin,
        project=billing,
        name="Prices",
        columns=[{"name": "sku", "type": "text"}, {"name": "price", "type": "number"}],
        key_column="sku",
    )
    services.lookup_row_edit(actor=admin, table=prices, key="A-1", values={"price": "4.5"})
    secret_write(actor=admin, workspace=acme, name="STRIPE_KEY", value="sk-browser-canary-1")
    writers = roles.role_create(
        actor=admin, workspace=acme, name="Writers", permissions=["recipe:view", "recipe:edit"]
    )
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, admin.email, STRONG_PASSWORD)

        page.goto(f"{base}/w/acme/recipes")
        page.fill("#id_project_name", "Billing")
        page.fill("#id_project_description", "a second one")
        page.click("#project-form button[type=submit]")
        name_errors = page.locator("#id_project_name + ul.errorlist#id_project_name_error")
        assert name_errors.inner_text() == "a project named Billing already exists in DEV"
        assert page.locator("#id_project_name").get_attribute("aria-invalid") == "true"
        assert page.input_value("#id_project_description") == "a second one"

        page.goto(f"{base}/w/acme/lookup-tables/{prices.id}")
        page.fill("#id_col_1", "A-1")
        page.fill("#id_col_2", "cheap")
        page.click("#row-form button[type=submit]")
        assert page.locator("#id_col_2 + ul.errorlist").inner_text() == "price must be a number"
        assert page.input_value("#id_col_2") == "cheap"

        page.goto(f"{base}/w/acme/vault")
        page.fill("#id_name", "9lives")
        page.fill("#id_value", "sk-browser-canary-2")
        page.click("#secret-form button[type=submit]")
        assert (
            page.locator("#id_name + ul.errorlist")
            .inner_text()
            .startswith("a secret name starts with a letter")
        )
        assert page.input_value("#id_name") == "9lives"
        assert page.input_value("#id_value") == ""
        assert "sk-browser-canary-2" not in page.content()

        # A form in a row of a list: its errors are shown in that row's form, opened.
        page.goto(f"{base}/w/acme/access/roles")
        row = page.locator(f'tr[data-key="{writers.key}"]')
        row.locator("summary").click()
        row.locator('input[name="name"]').fill("   ")
        row.locator("form.stacked button[type=submit]").click()
        row = page.locator(f'tr[data-key="{writers.key}"]')
        beside = row.locator('label:has(input[name="name"]) + ul.errorlist')
        assert beside.inner_text() == "a name is required"
        assert beside.is_visible()
    assert set(Project.objects.filter(workspace=acme).values_list("name", flat=True)) == {"Billing"}
    assert Project.objects.filter(workspace=acme).count() == 3  # its DEV, TEST and PROD copies
    assert selectors.lookup_rows(prices) == [{"sku": "A-1", "price": 4.5}]
    assert list(Secret.objects.filter(workspace_id=acme.id).values_list("name", flat=True)) == ["STRIPE_KEY"]
    writers.refresh_from_db()
    assert writers.name == "Writers"
