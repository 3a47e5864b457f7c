"""Schemathesis against the OpenAPI schema, in process, at a small bound: no 5xx, every response as declared.

benchmarks/fuzz.py runs the same function at a larger bound (and with invalid inputs: --negative).
"""

from benchmarks.fuzz import run_fuzz

KEY = "fuzz-admin-key-0123456789"


def test_every_operation_conforms_to_its_schema(make_app, tiny_reranker_path):
    # a reranker, because /v1/rerank answers 503 without one
    app = make_app(api_keys=[{"key": KEY, "scope": "admin"}], reranker=tiny_reranker_path)
    report = run_fuzz(app, {"Authorization": f"Bearer {KEY}"}, max_examples=6, seed=1)
    assert not report.failures, report.summary()
    paths = {op.label.split(" [")[0] for op in report.operations}
    assert len(paths) >= 11, paths  # every route of the API was exercised
    assert all(op.examples >= 1 for op in report.operations), report.summary()
    statuses = {status for op in report.operations for status in op.statuses}
    assert {200, 201, 404, 422} <= statuses, report.summary()  # reached the handlers, not just the validators
