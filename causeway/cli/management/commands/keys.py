"""`causeway keys`: rotate, re-encrypt, count and retire the keys of the vault (a platform operator's act).

Every operation is audited as the system actor through `causeway.vault.events.publish`; with no audit
receiver connected, the command refuses rather than change keys unaudited.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.vault.events import UnauditedError, publish, require_receiver
from causeway.vault.keysets import PLATFORM_PURPOSE, WORKSPACE_PURPOSE
from causeway.vault.rootkey import RootKeyError
from causeway.vault.rotation import (
    ROOT,
    KeyUsage,
    ReencryptReport,
    RotationError,
    key_status,
    reencrypt,
    retire_key,
    rotate_keyset,
    rotate_root_key,
)
from causeway.vault.sealing import SealedValueError
from causeway.workspaces.models import Workspace


def _add_target(parser: CommandParser, *, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--workspace", metavar="W", help="a workspace, by slug or id")
    group.add_argument("--platform", action="store_true", help="the platform keyset")
    group.add_argument("--root", action="store_true", help="the root key")


class Command(BaseCommand):
    help = "Rotate, re-encrypt, count and retire the vault's keys."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rotate = actions.add_parser("rotate", help="give a keyset (or the root key) a new primary key")
        _add_target(rotate, required=True)
        rotate.add_argument(
            "--output",
            type=Path,
            metavar="FILE",
            help="with --root and CAUSEWAY_ROOT_KEY: write the rotated root keyset to this new file",
        )
        again = actions.add_parser(
            "reencrypt", help="re-seal values and re-wrap keysets under the primary keys"
        )
        again.add_argument("--batch", type=int, default=100, metavar="N", help="values per transaction (100)")
        again.add_argument("--max-batches", type=int, default=None, metavar="N", help="stop after N batches")
        actions.add_parser("status", help="how many stored values still use each key")
        retire = actions.add_parser("retire", help="remove a key that nothing uses any more")
        retire.add_argument("key_id", type=int, metavar="KEY_ID")
        _add_target(retire, required=False)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] != "status":
                require_receiver()
            getattr(self, f"_{options['action']}")(options)
        except (RotationError, RootKeyError, UnauditedError, SealedValueError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def _workspace(self, reference: str) -> tuple[uuid.UUID, str]:
        workspaces = Workspace.objects
        try:
            found = workspaces.filter(id=uuid.UUID(reference)).first()
        except ValueError:
            found = workspaces.filter(slug=reference).first()
        if found is None:
            raise CommandError(f"--workspace: no workspace {reference!r}")
        return found.pk, found.slug

    def _labels(self) -> dict[uuid.UUID, str]:
        return dict(Workspace.objects.values_list("id", "slug"))

    def _rotate(self, options: dict[str, Any]) -> None:
        if options["output"] is not None and not options["root"]:
            raise CommandError("--output goes with --root")
        if options["root"]:
            done = rotate_root_key(on_change=publish, output=options["output"])
            if done.written_to is not None:
                self.stdout.write(
                    f"Wrote the root keyset with new primary key {done.new_key_id} to {done.written_to}. "
                    "Install it as CAUSEWAY_ROOT_KEY in every process, restart them, then run "
                    "`causeway keys rotate --root` again to re-wrap the keysets."
                )
                return
            new = f" key {done.new_key_id}" if done.new_key_id is not None else ""
            self.stdout.write(
                f"Root key ({done.backend}) rotated to{new or ' its current version'}; "
                f"{done.rewrapped} keyset(s) re-wrapped."
            )
            return
        if options["platform"]:
            workspace_id, label = None, "the platform keyset"
        else:
            workspace_id, slug = self._workspace(options["workspace"])
            label = f"the keyset of workspace {slug}"
        rotation = rotate_keyset(workspace_id=workspace_id, on_change=publish)
        self.stdout.write(
            f"New primary key {rotation.new_key_id} for {label} (was {rotation.old_key_id}). "
            "Run `causeway keys reencrypt` to re-seal the values under the old key."
        )

    def _reencrypt(self, options: dict[str, Any]) -> None:
        def progress(report: ReencryptReport) -> None:
            self.stdout.write(f"batch {report.batches}: {report.resealed} value(s) re-sealed so far")

        report = reencrypt(
            batch_size=options["batch"],
            max_batches=options["max_batches"],
            on_batch=progress,
            on_change=publish,
        )
        for failure in report.failed:
            self.stderr.write(failure)
        state = "complete" if report.complete else "stopped early; run again to continue"
        self.stdout.write(
            f"Re-encryption {state}: {report.resealed} value(s) re-sealed, {report.rewrapped} keyset(s) "
            f"re-wrapped, {len(report.failed)} could not be opened."
        )
        if report.failed:
            raise CommandError(f"{len(report.failed)} value(s) could not be opened; see above")

    def _status(self, options: dict[str, Any]) -> None:
        labels = self._labels()
        self.stdout.write(f"{'KEYSET':<48} {'KEY ID':>10}  {'STATE':<9} USES")
        for usage in key_status():
            self.stdout.write(_status_line(usage, labels))

    def _retire(self, options: dict[str, Any]) -> None:
        purpose: str | None = None
        workspace_id: uuid.UUID | None = None
        if options["root"]:
            purpose = ROOT
        elif options["platform"]:
            purpose = PLATFORM_PURPOSE
        elif options["workspace"]:
            purpose = WORKSPACE_PURPOSE
            workspace_id, _ = self._workspace(options["workspace"])
        done = retire_key(
            key_id=options["key_id"], on_change=publish, purpose=purpose, workspace_id=workspace_id
        )
        self.stdout.write(f"Retired key {done.key_id}.")


def _status_line(usage: KeyUsage, labels: dict[uuid.UUID, str]) -> str:
    if usage.purpose == ROOT:
        keyset = "root key"
        unit = "keyset(s)"
    elif usage.workspace_id is None:
        keyset = "platform"
        unit = "value(s)"
    else:
        keyset = f"workspace {labels.get(usage.workspace_id, usage.workspace_id)}"
        unit = "value(s)"
    state = "primary" if usage.primary else ("MISSING" if not usage.in_keyset else "old")
    key = "(kms)" if usage.key_id is None else str(usage.key_id)
    return f"{keyset:<48} {key:>10}  {state:<9} {usage.uses} {unit}"
