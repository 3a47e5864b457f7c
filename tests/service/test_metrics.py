"""/metrics (Prometheus text), request ids and structured logs, through the real lifespan with tiny models."""

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.logging_setup import make_handler, request_id_from


@pytest.fixture
def client(make_client):
    with make_client(collections=["kb"]) as client:
        for i, text in enumerate(["Fix a flat bicycle tire with a patch.", "Bake sourdough bread in a hot oven."]):
            client.put(f"/v1/collections/kb/documents/doc{i}", json={"text": text})
        yield client


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_request_counts_and_latency_by_route_template_and_status(client):
    for _ in range(3):
        assert client.post("/v1/collections/kb/search", json={"query": "bicycle tire"}).status_code == 200
    assert client.post("/v1/collections/nope/search", json={"query": "x"}).status_code == 404
    assert client.get("/no/such/route").status_code == 404
    samples = scrape(client)
    route = "/v1/collections/{name}/search"
    assert value(samples, "quarry_http_requests_total", method="POST", route=route, status="200") == 3
    assert value(samples, "quarry_http_requests_total", method="POST", route=route, status="404") == 1
    assert value(samples, "quarry_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(samples, "quarry_http_request_duration_seconds_count", method="POST", route=route, status="200") == 3
    assert value(samples, "quarry_http_request_duration_seconds_sum", method="POST", route=route, status="200") > 0
    # raw paths never become labels
    assert not any("doc0" in dict(labels).get("route", "") for _, labels in samples)


def test_search_stages_index_sizes_and_models(client):
    client.post("/v1/collections/kb/search", json={"query": "bread", "mode": "hybrid"})
    client.post("/v1/collections/kb/search", json={"query": "bread", "mode": "lexical"})
    samples = scrape(client)
    assert value(samples, "quarry_search_stage_duration_seconds_count", stage="embed") == 1  # lexical embeds nothing
    assert value(samples, "quarry_search_stage_duration_seconds_count", stage="retrieve") == 2
    assert value(samples, "quarry_search_stage_duration_seconds_count", stage="total") == 2
    assert value(samples, "quarry_search_stage_duration_seconds_count", stage="rerank") == 0  # no reranker here
    assert value(samples, "quarry_collection_documents", collection="kb") == 2
    assert value(samples, "quarry_collection_chunks", collection="kb") == 2
    loaded = {dict(labels)["role"]: v for (name, labels), v in samples.items() if name == "quarry_model_loaded"}
    assert loaded == {"embedder": 1.0, "reranker": 0.0}
    # sizes are read at scrape time, not cached
    client.put("/v1/collections/kb/documents/doc9", json={"text": "Jupiter is the largest planet."})
    assert value(scrape(client), "quarry_collection_documents", collection="kb") == 3


def test_two_apps_in_one_process_keep_separate_registries(make_client, client):
    client.get("/health")
    with make_client() as other:
        other.get("/health")
        other.get("/health")
        assert value(scrape(other), "quarry_http_requests_total", method="GET", route="/health", status="200") == 2
    assert value(scrape(client), "quarry_http_requests_total", method="GET", route="/health", status="200") == 1


def test_request_id_is_echoed_when_sane_and_generated_otherwise(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123.x"}).headers["x-request-id"] == "abc-123.x"
    for bad in ("", "has space", "x" * 200, "new\\nline", "<script>"):
        generated = client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert generated != bad and len(generated) == 32
    assert len(client.get("/health").headers["x-request-id"]) == 32
    # error responses carry it too
    assert client.get("/v1/collections/nope", headers={"X-Request-ID": "r1"}).headers["x-request-id"] == "r1"


def test_access_log_is_one_json_object_per_line_with_the_request_id(client):
    stream = io.StringIO()
    handler = make_handler("json", stream)
    logger = logging.getLogger("quarry.access")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.post("/v1/collections/kb/search", json={"query": "bread"}, headers={"X-Request-ID": "req-42"})
        client.get("/v1/collections/missing")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert set(first) >= {"ts", "level", "logger", "message", "request_id", "method", "path", "status", "duration_ms"}
    assert (first["request_id"], first["method"], first["path"], first["status"]) == ("req-42", "POST", "/v1/collections/kb/search", 200)
    assert first["logger"] == "quarry.access" and first["level"] == "info" and first["duration_ms"] > 0
    assert first["ts"].endswith("+00:00")
    assert second["status"] == 404 and len(second["request_id"]) == 32


def test_text_format_and_request_id_helper():
    stream = io.StringIO()
    logger = logging.getLogger("quarry.test-text")
    logger.addHandler(make_handler("text", stream))
    logger.setLevel(logging.INFO)
    logger.info("hello %s", "world")
    assert "INFO quarry.test-text [] hello world" in stream.getvalue()
    assert request_id_from("ok_id:1") == "ok_id:1"
    with pytest.raises(ValueError, match="json or text"):
        make_handler("xml")
