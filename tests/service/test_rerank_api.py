"""/v1/rerank as Open WebUI's external reranker, Cohere and Jina call it, against a running quarry."""

import pytest
import requests

from tests.service.live_server import live_server, tiny_settings

DOCS = ["To fix a flat tire, patch the inner tube.", "Sourdough needs a starter.", "Saturn has rings of ice."]


@pytest.fixture(scope="module")
def url(tmp_path_factory, tiny_embedder_path, tiny_reranker_path):
    settings = tiny_settings(tmp_path_factory.mktemp("rerank") / "data", tiny_embedder_path, tiny_reranker_path)
    with live_server(settings) as base:
        yield f"{base}/v1/rerank"


def test_open_webui_external_reranker_call(url, tiny_reranker_path):
    """The exact request Open WebUI's ExternalReranker.predict sends, read the way it reads the answer."""
    from models import Reranker
    from service.search.relevance import sigmoid

    query = "how do I repair a bike tire"
    payload = {"model": "reranker", "query": query, "documents": DOCS, "top_n": len(DOCS)}
    r = requests.post(
        url, headers={"Content-Type": "application/json", "Authorization": "Bearer sk-anything"}, json=payload, timeout=30
    )
    r.raise_for_status()
    data = r.json()
    scores = [res.get("relevance_score", res.get("score", 0.0)) for res in sorted(data["results"], key=lambda x: x["index"])]
    assert len(scores) == len(DOCS) and all(0.0 <= s <= 1.0 for s in scores)
    expected = sigmoid(Reranker(tiny_reranker_path, device="cpu").score(query, DOCS))
    assert scores == pytest.approx(list(expected), abs=1e-5)
    returned = [res["relevance_score"] for res in data["results"]]
    assert returned == sorted(returned, reverse=True)  # best first
    assert "document" not in data["results"][0]


def test_cohere_and_jina_shapes(url):
    body = {"model": "rerank-v3.5", "query": "tire", "documents": [DOCS[0], {"text": DOCS[1]}, DOCS[2]],
            "top_n": 2, "return_documents": True, "max_tokens_per_doc": 512}  # fmt: skip
    data = requests.post(url, json=body, timeout=30).json()
    assert len(data["results"]) == 2 and data["meta"]["billed_units"]["search_units"] == 1 and data["id"]
    for res in data["results"]:
        assert res["document"] == {"text": DOCS[res["index"]]}
    many = requests.post(url, json={"query": "tire", "documents": DOCS, "top_n": 99}, timeout=30).json()
    assert sorted(r["index"] for r in many["results"]) == [0, 1, 2]  # top_n past the end: all of them


def test_errors_in_cohere_shape(url):
    r = requests.post(url, json={"model": "m", "query": "tire", "documents": []}, timeout=30)
    assert r.status_code == 400 and set(r.json()) == {"message"} and "documents" in r.json()["message"]
    r = requests.post(url, json={"model": "m", "documents": DOCS}, timeout=30)
    assert r.status_code == 400 and "query" in r.json()["message"]  # a 400, not a 422: Open WebUI reads 422 as "use TEI"


def test_without_a_cross_encoder_the_embedder_answers(make_client):
    """QUARRY_RERANKER=none: the route still ranks (by the embedder) and says so, instead of a 503."""
    with make_client() as client:
        r = client.post("/v1/rerank", json={"query": "q", "documents": ["a", "b"]})
        assert client.get("/health").json()["rerank_scorer"] == "embedder"
    assert r.status_code == 200 and r.json()["meta"]["scorer"] == "embedder"
    assert sorted(res["index"] for res in r.json()["results"]) == [0, 1]


@pytest.fixture(scope="module")
def fresh_install_url(tmp_path_factory, minilm):
    """A fresh offline install: the bundled MiniLM, the default reranker named but not installed, nothing set."""
    from service.settings import Settings

    with live_server(Settings(data_dir=tmp_path_factory.mktemp("fresh") / "data", device="cpu")) as base:
        yield base


def test_open_webui_request_answers_without_a_cross_encoder(fresh_install_url):
    """Open WebUI's exact request (an empty key still sends "Bearer ") answers 200, in a sensible order."""
    documents = [
        "Sourdough bread needs a mature starter and a long, cool proof.",
        "To fix a flat tire, take the wheel off, find the puncture and patch the inner tube.",
        "Water houseplants when the top inch of soil is dry.",
        "Saturn's rings are made of ice and rock.",
    ]
    payload = {"model": "reranker", "query": "how do I repair a punctured bike tyre", "documents": documents, "top_n": 4}
    r = requests.post(
        f"{fresh_install_url}/v1/rerank", headers={"Content-Type": "application/json", "Authorization": "Bearer "},
        json=payload, timeout=60,
    )  # fmt: skip
    r.raise_for_status()
    data = r.json()
    assert data["meta"]["scorer"] == "embedder" and [res["index"] for res in data["results"]][0] == 1
    scores = [res["relevance_score"] for res in sorted(data["results"], key=lambda x: x["index"])]
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)
    health = requests.get(f"{fresh_install_url}/health", timeout=30).json()
    assert health["status"] == "ok" and health["rerank_scorer"] == "embedder" and health["reranker"]["required"] is False
    assert health["note"].startswith("not reranked: the default cross-encoder") and "\n" not in health["note"]
