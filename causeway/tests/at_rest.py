"""What a stolen copy of the database shows: its raw bytes, and the forms a value could take in them."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connection


def stored_forms(value: str) -> list[bytes]:
    """How a value could appear in a database file or dump: as is, in hex, or in base64 at any alignment.

    Base64 of a value depends on where it starts within its 3-byte groups; each of the three
    alignments is encoded and only the characters whose 6 bits all come from the value are kept.
    """
    raw = value.encode()
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + raw)
            first_bit, end_bit = 8 * offset, 8 * (offset + len(raw))
            forms.append(encoded[(first_bit + 5) // 6 : end_bit // 6])
    return forms


def database_bytes() -> bytes:
    """Everything the database holds, as someone with a copy of it reads it."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(connection.settings_dict["NAME"])
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    config = connection.settings_dict
    env = dict(os.environ)
    if config["PASSWORD"]:
        env["PGPASSWORD"] = config["PASSWORD"]
    dump = subprocess.run(
        [
            "pg_dump",
            "--host",
            config["HOST"] or "127.0.0.1",
            "--port",
            str(config["PORT"] or 5432),
            "--username",
            config["USER"],
            config["NAME"],
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    return dump.stdout


def found_in(stored: bytes, value: str) -> list[bytes]:
    return [form for form in stored_forms(value) if form in stored]


def broker_bytes() -> bytes:
    """What the broker holds: the embedded broker's file, or every key of this installation's broker in
    the Redis database in use (those under its key prefix: other test processes share the database)."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("sqla+sqlite:///"):
        path = Path(url.removeprefix("sqla+sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    db = url.rsplit("/", 1)[-1] or "0"
    keys = subprocess.run(
        ["redis-cli", "-n", db, "--scan", "--pattern", f"{settings.REDIS_KEY_PREFIX}*"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split()
    assert keys, "the broker's keys are under its prefix"
    dumped = b""
    for key in keys:
        dumped += subprocess.run(["redis-cli", "-n", db, "--raw", "DUMP", key], capture_output=True).stdout
    return dumped
