"""Walks the audit chains and names, per chain, the first event changed, removed, reordered or cut off.

Each event's MAC is recomputed over its content (its sealed columns opened), its position and its
link to the previous event; a sealed column that does not open makes the event a changed one.
Sequence numbers must run 1, 2, 3... without a gap; the chain must reach every checkpoint (from
the database and from the checkpoint file) with the MAC recorded there; the head row must agree
with the last event. Checkpoints whose own MAC fails are reported.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings

from causeway.audit import canonical
from causeway.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, actor_index, workspace_chain
from causeway.audit.services import MAC_PURPOSE
from causeway.vault import mac
from causeway.vault.sealing import SealedValueError

CHANGED = "changed"
REMOVED = "removed"
REORDERED = "reordered"
CUT_OFF = "cut off"
HEAD = "head"
CHECKPOINT = "checkpoint"

# How far from its place a moved event is looked for when its predecessor does not say.
_SEARCH_WINDOW = 64
_CHUNK = 1000
# Appends racing the walk move the head; re-reading it a few times lets the walk catch up.
_CATCH_UP_ROUNDS = 5


class VerificationError(Exception):
    """Verification could not run at all (for instance the MAC keyset does not open)."""


@dataclass(frozen=True)
class Problem:
    kind: str
    seq: int
    reason: str
    event_id: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    last_seq: int
    problem: Problem | None = None
    bad_checkpoints: tuple[Problem, ...] = ()
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.bad_checkpoints


@dataclass(frozen=True)
class Verification:
    chains: list[ChainReport]
    # Lines of the checkpoint file that are not checkpoint records at all, so name no chain.
    file_problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_problems and all(report.ok for report in self.chains)

    @property
    def bad(self) -> list[ChainReport]:
        return [report for report in self.chains if not report.ok]


@dataclass(frozen=True)
class _Checkpoint:
    chain: str
    seq: int
    event_mac: bytes
    created_at: str
    source: str

    def describe(self) -> str:
        return f"{self.source} (made {self.created_at})"


@dataclass
class _Checkpoints:
    valid: dict[str, list[_Checkpoint]] = field(default_factory=lambda: defaultdict(list))
    bad: dict[str, list[Problem]] = field(default_factory=lambda: defaultdict(list))
    unreadable: list[Problem] = field(default_factory=list)


def _event_problem(kind: str, event: AuditEvent, reason: str) -> Problem:
    return Problem(kind=kind, seq=event.seq, reason=reason, event_id=str(event.id), action=event.action)


def _load_checkpoints(verifier: mac.Verifier, chains: set[str] | None) -> _Checkpoints:
    found = _Checkpoints()

    def add(chain: str, seq: int, event_mac: bytes, created_at: datetime, tag: bytes, source: str) -> None:
        content = canonical.checkpoint_content(
            chain=chain, seq=seq, event_mac=event_mac, created_at=created_at
        )
        if verifier.verify(tag, content):
            stamp = canonical.timestamp(created_at)
            found.valid[chain].append(_Checkpoint(chain, seq, event_mac, stamp, source))
        else:
            found.bad[chain].append(
                Problem(
                    kind=CHECKPOINT,
                    seq=seq,
                    reason=f"{source} for seq {seq} fails its MAC: it was forged or altered",
                )
            )

    rows = AuditCheckpoint.objects.order_by("id")
    if chains is not None:
        rows = rows.filter(chain__in=chains)
    for row in rows.iterator(chunk_size=_CHUNK):
        add(
            row.chain,
            row.seq,
            bytes(row.event_mac),
            row.created_at,
            bytes(row.tag),
            f"database checkpoint {row.id}",
        )

    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    if not path.exists():
        return found
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            source = f"checkpoint file line {number}"
            try:
                record = json.loads(raw)
                chain, seq = record["chain"], record["seq"]
                if not isinstance(chain, str) or not isinstance(seq, int) or isinstance(seq, bool):
                    raise TypeError("chain or seq has the wrong type")
                event_mac = bytes.fromhex(record["event_mac"])
                created_at = datetime.fromisoformat(record["created_at"])
                tag = bytes.fromhex(record["tag"])
            except (ValueError, KeyError, TypeError):
                found.unreadable.append(
                    Problem(kind=CHECKPOINT, seq=0, reason=f"{source} of {path} is not a checkpoint record")
                )
                continue
            if chains is None or chain in chains:
                add(chain, seq, event_mac, created_at, tag, source)
    return found


def _written_seq(event: AuditEvent, verifier: mac.Verifier) -> int | None:
    """The position an authentic but misplaced event was written at, if it can be found."""
    candidates: list[int] = []
    prev_mac = bytes(event.prev_mac)
    if not prev_mac:
        candidates.append(1)
    else:
        predecessor = AuditEvent.objects.filter(chain=event.chain, mac=prev_mac).only("seq").first()
        if predecessor is not None:
            candidates.append(predecessor.seq + 1)
    for distance in range(1, _SEARCH_WINDOW + 1):
        candidates.extend([event.seq + distance, event.seq - distance])
    tag = bytes(event.mac)
    for seq in candidates:
        if seq >= 1 and seq != event.seq and verifier.verify(tag, canonical.event_content(event, seq=seq)):
            return seq
    return None


def _check_event(event: AuditEvent, previous: AuditEvent | None, verifier: mac.Verifier) -> Problem | None:
    tag = bytes(event.mac)
    key_id = mac.key_id_of(tag)
    if key_id is None or key_id not in verifier.key_ids:
        return _event_problem(
            CHANGED,
            event,
            "changed: its MAC was not made by any key of the audit keyset "
            "(forged, or the chain was rebuilt without the key)",
        )
    try:
        content = canonical.event_content(event)
    except SealedValueError as exc:
        # A sealed column altered, or copied from another event: its content is unknowable, so changed.
        # The error names the column (never a value); the sealed text is bound to this very row.
        return _event_problem(CHANGED, event, f"changed: {exc}")
    if not verifier.verify(tag, content):
        written = _written_seq(event, verifier)
        if written is None:
            return _event_problem(CHANGED, event, "changed: its content does not match its MAC")
        prev_mac = bytes(event.prev_mac)
        predecessor_gone = (
            bool(prev_mac) and not AuditEvent.objects.filter(chain=event.chain, mac=prev_mac).exists()
        )
        if written > event.seq and predecessor_gone:
            return _event_problem(
                REMOVED,
                event,
                f"removed: the event before it (seq {written - 1} when written) is gone and later events "
                f"were renumbered; this one was written as seq {written}",
            )
        return _event_problem(
            REORDERED, event, f"reordered: it was written as seq {written}, not {event.seq}"
        )
    if key_id != event.mac_key_id:
        return _event_problem(
            CHANGED, event, f"changed: its key version says {event.mac_key_id} but key {key_id} made its MAC"
        )
    if event.actor_index != actor_index(event.chain, event.actor_label):
        # Not part of the MAC (it is derived), but the log is searched by it: a changed index would hide
        # the event from a search for its actor.
        return _event_problem(CHANGED, event, "changed: its actor search index does not match its actor")
    expected_prev = bytes(previous.mac) if previous is not None else b""
    if bytes(event.prev_mac) != expected_prev:
        return _event_problem(
            CHANGED,
            event,
            f"changed: its link does not match the MAC of seq {event.seq - 1}; "
            "it comes from another version of the chain",
        )
    return None


class _Walk:
    """One pass along a chain in sequence order, stopping at the first bad event."""

    def __init__(self, chain: str, verifier: mac.Verifier, checkpoints: list[_Checkpoint]) -> None:
        self.chain = chain
        self.verifier = verifier
        self.by_seq: dict[int, list[_Checkpoint]] = defaultdict(list)
        for checkpoint in checkpoints:
            self.by_seq[checkpoint.seq].append(checkpoint)
        self.checkpoints = checkpoints
        self.expected = 1
        self.previous: AuditEvent | None = None
        self.count = 0
        self.last_matching_checkpoint = 0
        self.problem: Problem | None = None

    def run(self) -> None:
        events = AuditEvent.objects.filter(chain=self.chain, seq__gte=self.expected).order_by("seq")
        for event in events.iterator(chunk_size=_CHUNK):
            self.problem = self._step(event)
            if self.problem is not None:
                return
            self.previous = event
            self.expected += 1
            self.count += 1

    def _step(self, event: AuditEvent) -> Problem | None:
        if event.seq != self.expected:
            return Problem(
                kind=REMOVED,
                seq=self.expected,
                reason=(
                    f"removed: there is no event at seq {self.expected}; the chain jumps "
                    f"from seq {self.expected - 1} to seq {event.seq} (event {event.id})"
                ),
            )
        problem = _check_event(event, self.previous, self.verifier)
        if problem is not None:
            return problem
        for checkpoint in self.by_seq.get(event.seq, []):
            if checkpoint.event_mac != bytes(event.mac):
                return _event_problem(
                    CUT_OFF,
                    event,
                    f"cut off: it is not the event {checkpoint.describe()} recorded at seq {event.seq}; "
                    f"the chain was cut somewhere after seq {self.last_matching_checkpoint} and grew again",
                )
            self.last_matching_checkpoint = event.seq
        return None

    @property
    def last_seq(self) -> int:
        return self.expected - 1


def _catch_up(walk: _Walk) -> AuditChainHead | None:
    """Read the head after the walk; if appends committed meanwhile moved it, walk on to meet it."""
    head = AuditChainHead.objects.filter(chain=walk.chain).first()
    for _ in range(_CATCH_UP_ROUNDS):
        if head is None or head.seq <= walk.last_seq or walk.problem is not None:
            break
        if not AuditEvent.objects.filter(chain=walk.chain, seq__gte=walk.expected).exists():
            break
        walk.run()
        head = AuditChainHead.objects.filter(chain=walk.chain).first()
    return head


def _ends(walk: _Walk) -> Problem | None:
    """What the end of an intact walk says: cut off before a checkpoint, or a head that disagrees."""
    beyond = [checkpoint for checkpoint in walk.checkpoints if checkpoint.seq > walk.last_seq]
    if beyond:
        furthest = max(beyond, key=lambda checkpoint: checkpoint.seq)
        return Problem(
            kind=CUT_OFF,
            seq=walk.last_seq + 1,
            reason=(
                f"cut off: the chain ends at seq {walk.last_seq} but {furthest.describe()} "
                f"records seq {furthest.seq}"
            ),
        )
    head = _catch_up(walk)
    if walk.problem is not None:
        return walk.problem
    last = walk.previous
    if head is None:
        if last is None:
            return None
        return _event_problem(HEAD, last, "head: the chain's head row is missing")
    if head.seq > walk.last_seq:
        if AuditEvent.objects.filter(chain=walk.chain, seq__gte=walk.expected).exists():
            # Still being appended to faster than the walk caught up; the rest waits for next time.
            return None
        return Problem(
            kind=CUT_OFF,
            seq=walk.last_seq + 1,
            reason=f"cut off: the head row records seq {head.seq} but the chain ends at seq {walk.last_seq}",
        )
    if head.seq < walk.last_seq:
        beyond_head = AuditEvent.objects.filter(chain=walk.chain, seq=head.seq + 1).first()
        reason = f"head: the head row records seq {head.seq} but the chain goes on to seq {walk.last_seq}"
        if beyond_head is None:
            return Problem(kind=HEAD, seq=head.seq + 1, reason=reason)
        return _event_problem(HEAD, beyond_head, reason)
    if last is not None and bytes(head.mac) != bytes(last.mac):
        return _event_problem(HEAD, last, "head: the head row's MAC is not the MAC of the last event")
    return None


def _verify_one(chain: str, verifier: mac.Verifier, checkpoints: _Checkpoints) -> ChainReport:
    valid = checkpoints.valid.get(chain, [])
    walk = _Walk(chain, verifier, valid)
    walk.run()
    problem = walk.problem or _ends(walk)
    return ChainReport(
        chain=chain,
        events=walk.count,
        last_seq=walk.last_seq,
        problem=problem,
        bad_checkpoints=tuple(checkpoints.bad.get(chain, [])),
        # The same checkpoint is usually both a database row and a file line: count it once.
        checkpoints=len({(c.seq, c.event_mac, c.created_at) for c in valid}),
    )


def _verifier() -> mac.Verifier:
    try:
        return mac.verifier(MAC_PURPOSE)
    except (mac.MacError, OSError, ValueError) as exc:
        raise VerificationError(f"cannot open the audit MAC keyset: {exc}") from exc


def known_chains() -> list[str]:
    """Every chain that has a head, an event or a database checkpoint."""
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains.update(AuditEvent.objects.order_by().values_list("chain", flat=True).distinct())
    chains.update(AuditCheckpoint.objects.order_by().values_list("chain", flat=True).distinct())
    return sorted(chains)


def _anything_to_verify(names: list[str], path: Path) -> bool:
    if path.exists() and path.stat().st_size:
        return True
    return (
        AuditEvent.objects.filter(chain__in=names).exists()
        or AuditChainHead.objects.filter(chain__in=names, seq__gt=0).exists()
        or AuditCheckpoint.objects.filter(chain__in=names).exists()
    )


def verify_chains(chains: Iterable[str] | None = None) -> Verification:
    """Verify the given chains, or (None) every chain known to the database or the checkpoint file."""
    wanted = set(chains) if chains is not None else None
    names = sorted(wanted) if wanted is not None else known_chains()
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    if not _anything_to_verify(names, path):
        # Nothing written yet: no keyset is needed to say so.
        return Verification(chains=[ChainReport(chain=name, events=0, last_seq=0) for name in names])
    verifier = _verifier()
    # Checkpoints are read before the events: any checkpoint seen now refers to events already
    # committed, so the walks that follow cannot miss them because of a race.
    checkpoints = _load_checkpoints(verifier, wanted)
    if wanted is None:
        names = sorted(set(names) | set(checkpoints.valid) | set(checkpoints.bad))
    reports = [_verify_one(chain, verifier, checkpoints) for chain in names]
    return Verification(chains=reports, file_problems=checkpoints.unreadable if wanted is None else [])


def verify_workspace(workspace_id: uuid.UUID | str) -> ChainReport:
    """The report for one workspace's chain."""
    return verify_chains([workspace_chain(uuid.UUID(str(workspace_id)))]).chains[0]
