"""The forms of the project, recipe and lookup-table pages; the Build page's own form is `recipes_build`."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from causeway.web.forms import ListField, PageForm, text

MAX_IMPORT_BYTES = 1_000_000


class ProjectCreateForm(PageForm):
    name = text()
    environment = text(initial="dev")
    description = text()
    ids = "id_project_%s"

    def clean_environment(self) -> str:
        # A project is made in DEV unless the page says otherwise.
        return str(self.posted("environment", "dev"))


class RenameForm(PageForm):
    """A new name and, if posted, a new description of a project or recipe."""

    name = text()
    description = text()


class FolderCreateForm(PageForm):
    name = text()
    parent = text()

    ids = "id_folder_%s"


class FolderRenameForm(PageForm):
    name = text()


class RecipeCreateForm(PageForm):
    name = text()
    folder = text()
    description = text()

    ids = "id_recipe_%s"


class RecipeMoveForm(PageForm):
    folder = text()


class BookmarkForm(PageForm):
    pin = text()

    def clean_pin(self) -> bool:
        return self.cleaned_data.get("pin") != "0"


class WatchForm(PageForm):
    """How a watcher is told of a recipe's failures: by email, through a connection of theirs, or both."""

    email = text()
    connection = text()
    channel = text()
    include_tests = text()
    ids = "id_watch_%s"
    service_names = {"by_email": "email", "connection_id": "connection"}

    def clean_email(self) -> bool:
        return bool(self.cleaned_data.get("email"))

    def clean_include_tests(self) -> bool:
        return bool(self.cleaned_data.get("include_tests"))


class ImportForm(PageForm):
    """An export file; into a project also a folder and a name (the file's if left empty)."""

    file = forms.FileField(required=False)
    name = text(strip=True)
    folder = text()

    ids = "id_import_%s"

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        if upload is None:
            raise ValidationError("choose an export file (.json)")
        if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            raise ValidationError("an export file is at most 1 MB")
        try:
            return json.loads(upload.read())
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("the file is not JSON") from None


class LookupTableCreateForm(PageForm):
    name = text()
    column_name = ListField()
    column_type = ListField()
    key_column = text(strip=True)
    folder = text()
    service_names = {"columns": "column_name"}

    ids = "id_table_%s"

    def columns(self) -> list[dict[str, str]]:
        """The named columns, in order; a row left without a name is no column."""
        pairs = zip(self.cleaned_data["column_name"], self.cleaned_data["column_type"], strict=False)
        return [{"name": name.strip(), "type": kind} for name, kind in pairs if name.strip()]


class LookupRowForm(PageForm):
    """One row of a table: a `col:<name>` field per column, the key column's among them."""

    def __init__(self, *args: Any, table: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_column = table.key_column
        self.renamed = {c["name"]: f"col:{c['name']}" for c in table.columns}
        self.renamed["key"] = f"col:{table.key_column}"
        for column in table.columns:
            self.fields[f"col:{column['name']}"] = text()

    def key(self) -> str:
        return str(self.cleaned_data.get(f"col:{self.key_column}", ""))

    def values(self) -> dict[str, str]:
        """The other columns' values, by column name."""
        return {
            name.removeprefix("col:"): value
            for name, value in self.cleaned_data.items()
            if name != f"col:{self.key_column}"
        }


class LookupRowDeleteForm(PageForm):
    key = text()


class BuildForm(PageForm):
    """The Build page's operation and version message; the draft itself is read by `recipes_build`,
    whose fields come from the recipe definition's schema."""

    op = text(initial="save")
    message = text()
    # The type the flow's add buttons give a new step.
    newtype = text()

    def clean_op(self) -> str:
        return str(self.cleaned_data.get("op") or "save")


class MigrateForm(PageForm):
    """Recipes to promote, each connection they use paired with a target one (`map_from[i]` →
    `map_to[i]`), whether to copy lookup rows too, and a note."""

    recipes = ListField()
    map_from = ListField()
    map_to = ListField()
    lookup_rows = forms.BooleanField(required=False)
    note = text()

    service_names = {"map_from": "connections", "map_to": "connections"}

    def connections(self) -> dict[str, str]:
        pairs = zip(
            self.cleaned_data.get("map_from") or [], self.cleaned_data.get("map_to") or [], strict=False
        )
        return {source: target for source, target in pairs if target}


class PromotionDecisionForm(PageForm):
    """Approving or turning down a pending PROD promotion: nothing is posted but the promotion's id,
    which is in the address."""


class ProdApprovalForm(PageForm):
    """The workspace setting: promotions into PROD wait for a second person."""

    prod_second_approval = forms.BooleanField(required=False)


class RollbackForm(PageForm):
    """The earlier version a PROD recipe goes back to, and a note."""

    version = forms.IntegerField(required=False, min_value=1)
    note = text()


class BreakGlassForm(PageForm):
    """Asking for break-glass access to PROD job data: why, and for how long."""

    reason = text()
    minutes = forms.IntegerField(required=False)


class BreakGlassDecisionForm(PageForm):
    """Approving, refusing or withdrawing a break-glass request, or ending a session: nothing is posted
    but its id, which is in the address."""


class SigningKeyRotateForm(PageForm):
    """Rotating the workspace's PROD signing key: nothing is posted but the CSRF token."""


class BreakGlassSettingsForm(PageForm):
    self_approval = forms.BooleanField(required=False)
