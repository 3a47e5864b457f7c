"""Schemathesis against the OpenAPI schema, in process, at a small bound: no 5xx, every response as declared.

benchmarks/fuzz.py runs the same function at a larger bound (and with invalid inputs: --negative).
"""

import json

from benchmarks.fuzz import run_fuzz
from service.api import create_app

KEY = "fuzz-admin-key-0123456789"


def test_every_operation_conforms_to_its_schema(settings_env, monkeypatch, tiny_reranker_path):
    monkeypatch.setenv("QUARRY_API_KEYS", json.dumps([{"key": KEY, "scope": "admin"}]))
    monkeypatch.setenv("QUARRY_RERANKER", tiny_reranker_path)  # /v1/rerank answers 503 without one
    report = run_fuzz(create_app(), {"Authorization": f"Bearer {KEY}"}, max_examples=6, seed=1)
    assert not report.failures, report.summary()
    paths = {op.label.split(" [")[0] for op in report.operations}
    assert len(paths) >= 11, paths  # every route of the API was exercised
    assert all(op.examples >= 1 for op in report.operations), report.summary()
    statuses = {status for op in report.operations for status in op.statuses}
    assert {200, 201, 404, 422} <= statuses, report.summary()  # reached the handlers, not just the validators
