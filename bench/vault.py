"""Seal+open operations per second through the vault, against raw AES-256-GCM from `cryptography`.

Both run in the same process on the same values: the vault's figure includes everything a sealed field
pays per value (finding the workspace's keyset in the cache, building the associated data, Tink's key
id prefix); the raw figure is one AESGCM encrypt with a fresh random nonce and one decrypt. Each figure
is the best of several rounds, interleaved, so a noisy neighbour slows both rather than one.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable

SIZES = (1024, 64 * 1024)
ROUNDS = 7
ROUND_SECONDS = 0.3
GOAL = 0.5  # the vault at no less than half of raw AES-256-GCM, for 1 KiB values


def _setup_django() -> None:
    home = tempfile.mkdtemp(prefix="causeway-bench-")
    os.environ["CAUSEWAY_HOME"] = home
    os.environ.pop("CAUSEWAY_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")
    from causeway.bootstrap import prepare_home

    prepare_home()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _rate(operation: Callable[[], object]) -> float:
    """Operations per second over one round of about ROUND_SECONDS."""
    count = 0
    batch = 50
    start = time.perf_counter()
    deadline = start + ROUND_SECONDS
    while True:
        for _ in range(batch):
            operation()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _vault_operation(value: bytes) -> Callable[[], object]:
    from causeway.vault.sealing import Scope, open_, seal

    scope = Scope(uuid.uuid4(), "vault_secret", str(uuid.uuid4()), "value")
    assert open_(seal(value, scope=scope), scope=scope) == value  # creates and caches the keyset

    def operation() -> object:
        return open_(seal(value, scope=scope), scope=scope)

    return operation


def _raw_operation(value: bytes) -> Callable[[], object]:
    from causeway.vault.baseline import raw_seal_and_open

    return raw_seal_and_open(value, b"causeway:bench:" + uuid.uuid4().bytes * 4)


def measure(size: int) -> tuple[float, float]:
    value = os.urandom(size)
    vault, raw = _vault_operation(value), _raw_operation(value)
    vault_best = raw_best = 0.0
    for _ in range(ROUNDS):
        vault_best = max(vault_best, _rate(vault))
        raw_best = max(raw_best, _rate(raw))
    return vault_best, raw_best


def main() -> None:
    _setup_django()
    print("seal+open per second: the vault (Tink AES-256-GCM, bound to a record) vs raw AES-256-GCM")
    print(f"{'value':>8}  {'vault ops/s':>12}  {'raw ops/s':>12}  {'vault/raw':>9}")
    ratios = {}
    for size in SIZES:
        vault, raw = measure(size)
        ratios[size] = vault / raw
        label = f"{size // 1024} KiB"
        print(f"{label:>8}  {vault:>12,.0f}  {raw:>12,.0f}  {ratios[size]:>9.2f}")
    verdict = "met" if ratios[1024] >= GOAL else "NOT met"
    print(f"goal: vault >= {GOAL} x raw at 1 KiB: {verdict} ({ratios[1024]:.2f})")
