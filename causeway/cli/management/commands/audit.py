"""`causeway audit`: verify the audit chains, checkpoint their heads, rotate their MAC key."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from causeway.audit.models import workspace_chain
from causeway.audit.services import SYSTEM, AuditWriteError, audit_checkpoint, audit_mac_key_rotate
from causeway.audit.verify import ChainReport, Problem, VerificationError, verify_chains
from causeway.workspaces.models import Workspace

# Exit codes: 1 = a chain failed verification; 2 = verification could not run at all.
BROKEN = 1
CANNOT_RUN = 2


def _chain_for(ref: str) -> str:
    """The chain of a workspace given by slug or id. A well-formed id is taken even when the
    workspace is gone: its chain outlives it."""
    try:
        workspace_id = uuid.UUID(ref)
    except ValueError:
        workspace_id = None
    query = Q(slug=ref) | Q(pk=workspace_id) if workspace_id else Q(slug=ref)
    found = Workspace.objects.filter(query).values_list("pk", flat=True).first()
    if found is not None:
        return workspace_chain(found)
    if workspace_id is not None:
        return workspace_chain(workspace_id)
    raise CommandError(f"--workspace: no workspace has the slug or id {ref!r}", returncode=CANNOT_RUN)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _problem_line(chain: str, problem: Problem) -> str:
    return (
        f"BAD {chain}: seq {problem.seq}, event {problem.event_id or '-'}, "
        f"action {problem.action or '-'}: {problem.reason}"
    )


class Command(BaseCommand):
    help = "Verify the audit chains (naming each broken chain's first bad event), or checkpoint them."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify,checkpoint}")
        verify = commands.add_parser("verify", help="walk every chain (or one workspace's) and report")
        verify.add_argument("--workspace", metavar="SLUG_OR_ID", help="verify only this workspace's chain")
        commands.add_parser("checkpoint", help="record each chain's head in the database and the file")
        commands.add_parser("rotate-key", help="add a new audit MAC key and make it primary")

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        if subcommand == "verify":
            self._verify(options.get("workspace"))
        elif subcommand == "checkpoint":
            self._checkpoint()
        else:
            self._rotate()

    def _report(self, report: ChainReport) -> None:
        if report.problem is None:
            counts = f"{_count(report.events, 'event')}, {_count(report.checkpoints, 'checkpoint')}"
            self.stdout.write(f"ok  {report.chain}: {counts}")
        else:
            self.stdout.write(_problem_line(report.chain, report.problem))
        for bad in report.bad_checkpoints:
            self.stdout.write(_problem_line(report.chain, bad))

    def _verify(self, workspace: str | None) -> None:
        chains = [_chain_for(workspace)] if workspace else None
        try:
            result = verify_chains(chains)
        except VerificationError as exc:
            raise CommandError(f"audit verify: {exc}", returncode=CANNOT_RUN) from None
        for problem in result.file_problems:
            self.stdout.write(f"BAD checkpoint file: {problem.reason}")
        for report in result.chains:
            self._report(report)
        if not result.chains:
            self.stdout.write("no audit events yet")
        if not result.ok:
            broken = len(result.bad) + (1 if result.file_problems else 0)
            raise CommandError(
                f"audit verify: {broken} of {len(result.chains)} chains failed verification",
                returncode=BROKEN,
            )

    def _checkpoint(self) -> None:
        try:
            made = audit_checkpoint()
        except Exception as exc:
            raise CommandError(f"audit checkpoint: {exc}", returncode=CANNOT_RUN) from None
        for checkpoint in made:
            self.stdout.write(f"checkpoint {checkpoint.chain} at seq {checkpoint.seq}")
        if not made:
            self.stdout.write("no chain moved since its last checkpoint")

    def _rotate(self) -> None:
        try:
            key_id = audit_mac_key_rotate(actor=SYSTEM)
        except AuditWriteError as exc:
            raise CommandError(f"audit rotate-key: {exc}", returncode=CANNOT_RUN) from None
        self.stdout.write(f"new audit MAC key {key_id} is primary; older keys still verify")
