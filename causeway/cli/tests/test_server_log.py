"""The web server's access log carries no secret a URL can hold."""

from __future__ import annotations

import httpx
import pytest

from causeway.cli.server import redact_path


def test_invitation_secrets_and_query_strings_are_kept_out_of_the_access_log() -> None:
    assert redact_path("/invitations/abcDEF123-_x") == "/invitations/[redacted]"
    assert redact_path("/invitations/abc/accept") == "/invitations/[redacted]/accept"
    assert redact_path("/w/acme/members") == "/w/acme/members"


@pytest.mark.django_db(transaction=True)
def test_the_real_server_logs_requests_without_their_secrets(https_server) -> None:
    secret = "s3cr3t-invitation-token-value"
    httpx.get(f"{https_server.url}/invitations/{secret}", verify=False)  # noqa: S501
    httpx.get(f"{https_server.url}/login?next=/invitations/{secret}&token={secret}", verify=False)  # noqa: S501
    logs = https_server.log_path.read_text()
    assert "/invitations/[redacted]" in logs
    assert secret not in logs
