"""`causeway secrets`: values from a file or standard input only, audited as the system, one-line refusals."""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.audit.models import ActorType, AuditEvent
from causeway.vault.models import Secret
from testkit.personas import cast
from testkit.support import ROOT, causeway_command, process_env

VALUE = "xoxb-cli-canary-4242"


def run(*args: str, stdin: str | None = None) -> str:
    out = StringIO()
    call_command("secrets", *args, stdout=out, **({"stdin": StringIO(stdin)} if stdin is not None else {}))
    return out.getvalue()


@pytest.fixture
def acme() -> Any:
    return cast("admin").workspace


@pytest.mark.django_db
def test_set_from_a_file_creates_then_replaces_and_is_audited_as_the_system(
    acme: Any, tmp_path: Path
) -> None:
    value_file = tmp_path / "value"
    value_file.write_text(VALUE + "\n")
    output = run(
        "set", "--workspace", "acme", "SLACK", "--value-file", str(value_file), "--allowed-host", "slack.com"
    )
    assert output == "Created secret SLACK in acme.\n"
    secret = Secret.objects.get(workspace_id=acme.id, name="SLACK")
    assert secret.value == VALUE  # the one line end of the file is not part of it
    assert secret.allowed_hosts == ["slack.com"]
    assert secret.created_by is None
    value_file.write_text("second value\r\n")
    assert run("set", "--workspace", "acme", "SLACK", "--value-file", str(value_file)) == (
        "Replaced secret SLACK in acme.\n"
    )
    assert Secret.objects.get(pk=secret.pk).value == "second value"
    created, replaced = AuditEvent.objects.filter(action__startswith="secret.").order_by("seq")
    assert (created.action, replaced.action) == ("secret.created", "secret.replaced")
    assert created.actor_type == ActorType.SYSTEM and created.actor_label.startswith("cli (")
    assert created.workspace_id == acme.id


@pytest.mark.django_db
def test_set_from_standard_input_and_list_and_delete(acme: Any) -> None:
    assert run("set", "--workspace", "acme", "FROM_STDIN", stdin=VALUE + "\n") == (
        "Created secret FROM_STDIN in acme.\n"
    )
    assert Secret.objects.get(name="FROM_STDIN").value == VALUE
    listing = run("list", "--workspace", "acme")
    assert listing.startswith("FROM_STDIN\thosts *\tset ")
    assert listing.rstrip().endswith("by the operator (command line)")
    assert VALUE not in listing
    assert run("delete", "--workspace", "acme", "FROM_STDIN") == "Deleted secret FROM_STDIN from acme.\n"
    assert not Secret.objects.exists()
    assert [e.action for e in AuditEvent.objects.order_by("seq") if e.action.startswith("secret.")] == [
        "secret.created",
        "secret.deleted",
    ]


@pytest.mark.django_db
def test_a_value_given_as_an_argument_is_refused(acme: Any) -> None:
    for args in (("SLACK", VALUE), ("SLACK", "--value", VALUE)):
        with pytest.raises(
            CommandError, match=r"^value: a secret is never given on the command line"
        ) as refused:
            run("set", "--workspace", "acme", *args, stdin="ignored")
        assert VALUE not in str(refused.value)
    assert not Secret.objects.exists()


@pytest.mark.django_db
def test_refusals_name_the_field(acme: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"^value: a secret needs a value"):
        run("set", "--workspace", "acme", "EMPTY", stdin="")
    with pytest.raises(CommandError, match=r"^value-file: cannot read"):
        run("set", "--workspace", "acme", "X", "--value-file", str(tmp_path / "missing"))
    with pytest.raises(CommandError, match=r"^allowed_hosts: "):
        run("set", "--workspace", "acme", "X", "--allowed-host", "not a host", stdin=VALUE)
    with pytest.raises(CommandError, match=r"^workspace: no workspace 'nowhere'"):
        run("list", "--workspace", "nowhere")
    with pytest.raises(CommandError, match=r"^name: no secret 'NOPE' in acme"):
        run("delete", "--workspace", "acme", "NOPE")
    assert not Secret.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bad_name_exits_non_zero_with_one_line_on_stderr(acme: Any, tmp_path: Path) -> None:
    value_file = tmp_path / "value"
    value_file.write_text(VALUE)
    result = subprocess.run(
        causeway_command("secrets", "set", "--workspace", "acme", "9 bad", "--value-file", str(value_file)),
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: name: a secret name starts with a letter")
    assert VALUE not in result.stderr + result.stdout
    assert not Secret.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_set_through_a_pipe_in_a_real_process(acme: Any) -> None:
    result = subprocess.run(
        causeway_command("secrets", "set", "--workspace", "acme", "PIPED"),
        cwd=ROOT,
        env=process_env(),
        input=VALUE + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "Created secret PIPED in acme.\n", "")
    assert Secret.objects.get(name="PIPED").value == VALUE


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_on_a_terminal_the_value_is_asked_for_without_echo(
    acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    prompts: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or VALUE)
    out = StringIO()
    call_command("secrets", "set", "--workspace", "acme", "TYPED", stdout=out, stdin=Terminal())
    assert prompts == ["Value (not shown): "]
    assert Secret.objects.get(name="TYPED").value == VALUE
