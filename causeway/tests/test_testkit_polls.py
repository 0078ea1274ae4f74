"""A poll of the test kit that gives up says what it saw: what the test asked it to show, the broker, and
how each process the test started is doing, with the end of its log."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from testkit.support import RunningServer, broker_seen, jobs_seen, poll_until


def test_a_poll_that_gives_up_shows_what_it_was_told_to_and_the_end_of_each_started_process_log(
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "process.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", "print('\\n'.join(f'line {n}' for n in range(40)))"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.wait(timeout=30)
    RunningServer("https://127.0.0.1:9", process, log_path)

    with pytest.raises(AssertionError) as gave_up:
        poll_until(lambda: False, seconds=0.05, what="nothing", interval=0.01, saw=lambda: "rows as seen")
    said = str(gave_up.value)
    assert said.startswith("gave up after 0.05 s waiting for nothing\nrows as seen\n")
    assert f"(pid {process.pid}, exited with 0), last lines:" in said
    assert "line 39" in said and "line 15" in said and "line 14" not in said


def test_a_poll_whose_account_of_what_it_saw_fails_still_gives_up_with_its_own_error() -> None:
    def broken() -> str:
        raise RuntimeError("no database here")

    with pytest.raises(AssertionError, match=r"could not say what was seen: RuntimeError: no database here"):
        poll_until(lambda: None, seconds=0.01, what="nothing", interval=0.01, saw=broken)


@pytest.mark.django_db
def test_jobs_and_broker_as_seen_name_a_missing_job_and_count_the_queue() -> None:
    assert jobs_seen([uuid.uuid4()]).endswith("(1 of the jobs have no row)")
    assert broker_seen().startswith("broker: ")
