"""Property-based requests over qa's own OpenAPI spec (schemathesis): whatever the input, never a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from qa.api import create_app

EXAMPLES = 25  # per operation; bounded so the run takes seconds


def test_no_input_gives_a_server_error(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(write_timeout=1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service.settings, service=service))
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, case.query, case.body, response.text[:500])

        no_server_error()
        checked.append(operation.label)
    assert len(checked) >= 15, checked
