"""schemathesis against a collection's own OpenAPI document, calling a real `causeway web` with a client's
key: no server error, and no answer that breaks the document."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from urllib3.exceptions import InsecureRequestWarning

from causeway.apiplat import openapi
from causeway.apiplat.tests.test_calls import ORDER_SCHEMA, published
from causeway.audit.refusals import counts_forget_all
from causeway.runs.tests.trigger_helpers import people

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

EXAMPLES = 8
ANSWER = {
    "type": "object",
    "required": ["sku", "total"],
    "properties": {"sku": {"type": "string"}, "total": {"type": "integer"}},
}
STEPS = [
    {
        "id": "answer",
        "type": "respond",
        "status": "201",
        "body": {"sku": "{{ trigger.body.sku }}", "total": "{{ trigger.body.quantity * 3 }}"},
    }
]


def test_schemathesis_finds_nothing_wrong_with_a_collections_own_document(https_server: Any) -> None:
    place = people()
    api = published(place, STEPS, response_schema=ANSWER)
    document = openapi.collection_document(api["collection"], "dev")
    # The document names where it answers; the test server listens elsewhere than BASE_URL.
    document["servers"] = [{"url": https_server.url + api["base"]}]
    assert (
        document["paths"]["/shops/{shop}/orders"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]
        == ORDER_SCHEMA
    )
    schema = schemathesis.openapi.from_dict(document)
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    # The endpoint, and the platform's own question about a job.
    assert set(operations) == {"POST /shops/{shop}/orders", "GET /_jobs/{job_id}"}
    failures: list[str] = []
    session = requests.Session()
    base = https_server.url + api["base"]
    headers = {"Authorization": f"Bearer {api['secret']}"}
    for operation, mode in (
        (operation, mode)
        for operation in operations.values()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            # Each example starts with no refused keys counted against this address: schemathesis sends
            # bad keys on purpose, and past the allowance the answer would be 429, not 401.
            counts_forget_all()
            try:
                # Every check schemathesis has: documented status, schema, headers, and that what the
                # document calls valid is accepted and what it calls invalid refused.
                with warnings.catch_warnings():
                    # The test server's certificate is its own, self-signed.
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    case.call_and_validate(base_url=base, session=session, headers=headers, verify=False)
            except AssertionError as failed:
                failures.append(f"{case.method} {case.formatted_path}: {str(failed)[:400]}")

        run()
    assert failures == [], "\n".join(failures)
