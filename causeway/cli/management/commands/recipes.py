"""`causeway recipes`: list, show, create, export, import, restore, start and stop recipes, and show or
set up their webhooks, from the operator's command line. Acts as the system actor; every change is audited."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.policy import Actor
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.recipes import policy as access
from causeway.recipes import selectors, services
from causeway.recipes.schema import blank_definition
from causeway.runs import connector_hooks, triggers, webhooks


def read_json(path: str, field: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8") if path != "-" else sys.stdin.read()
        return json.loads(text)
    except OSError as exc:
        raise CommandError(f"{field}: cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise CommandError(f"{field}: {path} is not JSON") from None


class Command(BaseCommand):
    help = (
        "List, show, create, export, import, restore, start and stop recipes; show their webhook URL, set a "
        "connector webhook's signing secret. Acts as the system actor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="the workspace's recipes")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--project", metavar="PROJECT_ID")
        show = actions.add_parser(
            "show", help="a recipe and the definition of its current (or a given) version"
        )
        show.add_argument("--workspace", required=True, metavar="SLUG")
        show.add_argument("recipe", metavar="RECIPE_ID")
        show.add_argument("--version", type=int)
        create = actions.add_parser("create", help="a new recipe, from a definition file or empty")
        create.add_argument("--workspace", required=True, metavar="SLUG")
        create.add_argument("--project", required=True, metavar="PROJECT_ID")
        create.add_argument("--name", required=True)
        create.add_argument("--folder", metavar="FOLDER_ID")
        create.add_argument(
            "--definition-file", metavar="PATH", help="a JSON definition (- for standard input)"
        )
        export = actions.add_parser("export", help="a version as an export file (definition only)")
        export.add_argument("--workspace", required=True, metavar="SLUG")
        export.add_argument("recipe", metavar="RECIPE_ID")
        export.add_argument("--version", type=int)
        export.add_argument("--output", metavar="PATH", help="write here instead of standard output")
        imp = actions.add_parser(
            "import", help="an export file as a new recipe (--project) or version (--recipe)"
        )
        imp.add_argument("--workspace", required=True, metavar="SLUG")
        imp.add_argument("file", metavar="PATH")
        target = imp.add_mutually_exclusive_group(required=True)
        target.add_argument("--project", metavar="PROJECT_ID")
        target.add_argument("--recipe", metavar="RECIPE_ID")
        imp.add_argument("--folder", metavar="FOLDER_ID")
        imp.add_argument("--name", default="")
        restore = actions.add_parser(
            "restore", help="an earlier version's definition as the recipe's new version"
        )
        restore.add_argument("--workspace", required=True, metavar="SLUG")
        restore.add_argument("recipe", metavar="RECIPE_ID")
        restore.add_argument("--version", type=int, required=True, help="the version to restore")
        for verb in ("start", "stop"):
            act = actions.add_parser(verb, help=f"{verb} a recipe's trigger")
            act.add_argument("--workspace", required=True, metavar="SLUG")
            act.add_argument("recipe", metavar="RECIPE_ID")
        hook = actions.add_parser("webhook", help="the recipe's webhook URL and how calls are signed")
        hook.add_argument("--workspace", required=True, metavar="SLUG")
        hook.add_argument("recipe", metavar="RECIPE_ID")
        secret = actions.add_parser(
            "webhook-secret",
            help="set a connector webhook's signing secret to the one its provider issued, read from a file",
        )
        secret.add_argument("--workspace", required=True, metavar="SLUG")
        secret.add_argument("recipe", metavar="RECIPE_ID")
        secret.add_argument(
            "--secret-file", required=True, metavar="PATH", help="holds the secret (- for standard input)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        try:
            getattr(self, f"_{options['action'].replace('-', '_')}")(actor, workspace, options)
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound as exc:
            raise CommandError(f"{exc.what}: no such {exc.what} in {workspace.slug}") from None
        except Forbidden as exc:
            raise CommandError(str(exc)) from None

    def _list(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        project = access.project_get(actor, workspace, options["project"]) if options["project"] else None
        for recipe in selectors.recipes_list(actor, workspace, project=project):
            version = recipe.current_version.number if recipe.current_version else "-"
            state = "started" if recipe.active else "stopped"
            self.stdout.write(
                f"{recipe.id}\t{recipe.name}\t{recipe.project.name} ({recipe.project.environment})\t"
                f"v{version}\t{recipe.trigger_type}\t{state}"
            )

    def _show(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = access.recipe_get(actor, workspace, options["recipe"])
        version = (
            selectors.recipe_version(recipe, options["version"])
            if options["version"]
            else recipe.current_version
        )
        self.stdout.write(
            f"{recipe.name}\t{recipe.project.name}\t{'started' if recipe.active else 'stopped'}"
        )
        if version is None:
            raise CommandError("version: the recipe has no version")
        self.stdout.write(f"version {version.number}: {version.message}")
        self.stdout.write(json.dumps(version.definition, indent=2))

    def _create(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        project = access.project_get(actor, workspace, options["project"])
        folder = access.folder_get(actor, workspace, options["folder"]) if options["folder"] else None
        definition = (
            read_json(options["definition_file"], "definition")
            if options["definition_file"]
            else blank_definition()
        )
        recipe = services.recipe_create(
            actor=actor,
            workspace=workspace,
            project=project,
            folder=folder,
            name=options["name"],
            definition=definition,
        )
        self.stdout.write(f"Created recipe {recipe.name}, id {recipe.id}.")

    def _export(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = access.recipe_get(actor, workspace, options["recipe"])
        version = selectors.recipe_version(recipe, options["version"]) if options["version"] else None
        text = (
            json.dumps(services.recipe_export(actor=actor, recipe=recipe, version=version), indent=2) + "\n"
        )
        if options["output"]:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"output: cannot write {options['output']}: {exc.strerror}") from None
            self.stdout.write(f"Exported {recipe.name} to {options['output']}.")
        else:
            self.stdout.write(text, ending="")

    def _import(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        data = read_json(options["file"], "file")
        if options["recipe"]:
            recipe = access.recipe_get(actor, workspace, options["recipe"])
            version = services.recipe_import(actor=actor, workspace=workspace, data=data, into=recipe)
            self.stdout.write(f"Imported as version {version.number} of {recipe.name}.")
            return
        project = access.project_get(actor, workspace, options["project"])
        folder = access.folder_get(actor, workspace, options["folder"]) if options["folder"] else None
        version = services.recipe_import(
            actor=actor, workspace=workspace, data=data, project=project, folder=folder, name=options["name"]
        )
        self.stdout.write(f"Imported recipe {version.recipe.name}, id {version.recipe_id}.")

    def _restore(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = access.recipe_get(actor, workspace, options["recipe"])
        version = services.recipe_restore(actor=actor, recipe=recipe, number=options["version"])
        number = options["version"]
        self.stdout.write(f"Restored version {number} of {recipe.name} as version {version.number}.")

    def _start(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = triggers.recipe_start(
            actor=actor, recipe=access.recipe_get(actor, workspace, options["recipe"])
        )
        number = recipe.active_version.number if recipe.active_version else "-"
        self.stdout.write(f"Started {recipe.name} (version {number}).")

    def _stop(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = services.recipe_stop(
            actor=actor, recipe=access.recipe_get(actor, workspace, options["recipe"])
        )
        self.stdout.write(f"Stopped {recipe.name}.")

    def _webhook(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = access.recipe_get(actor, workspace, options["recipe"])
        info = webhooks.webhook_info(actor=actor, recipe=recipe)
        signed = "the trigger's connector" if info.connector_signed else webhooks.SIGNATURE_HEADER
        state = "started" if info.active else "stopped"
        receives = "receives calls" if info.trigger_is_webhook else "its trigger is not a webhook"
        self.stdout.write(f"{info.url}\t{state}\t{receives}\tsigned: {signed}")

    def _webhook_secret(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = access.recipe_get(actor, workspace, options["recipe"])
        path = options["secret_file"]
        try:
            text = Path(path).read_text(encoding="utf-8") if path != "-" else sys.stdin.read()
        except OSError as exc:
            raise CommandError(f"secret: cannot read {path}: {exc.strerror}") from None
        connector_hooks.webhook_secret_set(actor=actor, recipe=recipe, secret=text.strip())
        self.stdout.write(f"Set the webhook signing secret of {recipe.name}.")
