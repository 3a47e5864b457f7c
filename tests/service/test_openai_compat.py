"""The OpenAI SDK against a running quarry: embeddings and vector_stores.search, and OpenAI's error shape."""

import numpy as np
import openai
import pytest

from tests.service.live_server import live_server, tiny_settings

DOCS = {
    "guides/bike.md": {"text": "To fix a flat tire, remove the wheel and patch the inner tube.", "title": "Bike repair",
                       "metadata": {"lang": "en", "year": 2021, "author": {"name": "ann"}}},
    "guides/bread.md": {"text": "Sourdough bread needs a lively starter, flour, water and salt.",
                        "source": "kitchen/bread.md", "metadata": {"lang": "en", "year": 2023}},
    "notes/planets.txt": {"text": "Jupiter is the largest planet; Saturn has bright rings made of ice.",
                          "title": "Planets", "metadata": {"lang": "de", "year": 2019}},
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_embedder_path):
    import httpx

    settings = tiny_settings(tmp_path_factory.mktemp("openai") / "data", tiny_embedder_path)
    with live_server(settings) as url:
        with httpx.Client(base_url=url) as http:
            assert http.post("/v1/collections", json={"name": "kb"}).status_code == 201
            for doc_id, body in DOCS.items():
                assert http.put(f"/v1/collections/kb/documents/{doc_id}", json=body).status_code == 200
        yield url


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server}/v1", api_key="test-key", max_retries=0) as client:
        yield client


def test_embeddings_float_and_base64_agree(client, tiny_embedder):
    texts = ["flat tire", "sourdough starter"]
    floats = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    assert floats.object == "list" and [d.index for d in floats.data] == [0, 1]
    assert all(d.object == "embedding" and len(d.embedding) == 32 for d in floats.data)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0
    expected = tiny_embedder.encode(texts)
    np.testing.assert_allclose(np.array([d.embedding for d in floats.data]), expected, atol=1e-5)
    # the SDK asks for base64 by default and decodes it itself
    default = client.embeddings.create(model="anything", input="flat tire")
    np.testing.assert_allclose(default.data[0].embedding, expected[0], atol=1e-6)


def test_embedding_errors_are_openai_errors(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="m", input="x", dimensions=8)
    assert info.value.status_code == 400
    body = info.value.body
    assert body["param"] == "dimensions" and body["type"] == "invalid_request_error" and "32" in body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="m", input=["ok", ""])
    assert info.value.body["param"] == "input" and "input[1]" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="m", input=[[1, 2, 3]])
    assert "token-id input is not supported" in info.value.body["message"]


def test_vector_store_search_shape(client):
    page = client.vector_stores.search("kb", query="flat tire wheel", max_num_results=3)
    hits = list(page)
    assert 1 <= len(hits) <= 3
    by_id = {h.file_id: h for h in hits}
    assert set(by_id) <= set(DOCS)
    for hit in hits:
        assert 0.0 <= hit.score <= 1.0 and hit.content[0].type == "text" and hit.content[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    raw = client.vector_stores.with_raw_response.search("kb", query="flat tire").http_response.json()
    assert raw["object"] == "vector_store.search_results.page" and raw["search_query"] == ["flat tire"]
    assert raw["has_more"] is False and raw["next_page"] is None
    bike = next(d for d in raw["data"] if d["file_id"] == "guides/bike.md")
    assert bike["filename"] == "Bike repair"
    assert bike["attributes"] == {"lang": "en", "year": 2021, "author.name": "ann"}  # nested metadata flattened
    bread = next(d for d in raw["data"] if d["file_id"] == "guides/bread.md")
    assert bread["filename"] == "bread.md"  # no title: the source's base name


def test_vector_store_filters_and_threshold(client):
    def ids(**kwargs):
        return {h.file_id for h in client.vector_stores.search("kb", query="tire bread planets", **kwargs)}

    assert ids(filters={"type": "eq", "key": "lang", "value": "de"}) == {"notes/planets.txt"}
    assert ids(filters={"type": "nin", "key": "lang", "value": ["de"]}) == {"guides/bike.md", "guides/bread.md"}
    assert ids(filters={"type": "and", "filters": [{"type": "gte", "key": "year", "value": 2020},
                                                    {"type": "lt", "key": "year", "value": 2023}]}) == {"guides/bike.md"}
    assert ids(filters={"type": "or", "filters": [{"type": "eq", "key": "year", "value": 2019},
                                                   {"type": "eq", "key": "author.name", "value": "ann"}]}) == {
        "notes/planets.txt", "guides/bike.md"}  # fmt: skip
    assert ids(ranking_options={"ranker": "none", "score_threshold": 1.0}) == set()


def test_vector_store_errors(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.search("missing", query="x")
    assert info.value.body["code"] == "collection_not_found"
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search("kb", query="x", max_num_results=51)
    assert info.value.body["param"] == "max_num_results"
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search("kb", query="x", filters={"type": "like", "key": "lang", "value": "en"})
    assert "'like' is not a filter type" in info.value.body["message"]


def test_models_list(client, tiny_embedder_path):
    assert [m.id for m in client.models.list()] == [tiny_embedder_path]
