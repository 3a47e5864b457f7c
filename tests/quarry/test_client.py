"""quarry.client.Quarry against a real server (uvicorn on 127.0.0.1 with the tiny models)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from quarry.client import Document, Job, Quarry, QuarryAPIError
from service.settings import Settings
from tests.service.live_server import live_server
from tests.tiny_models import TEST_SETTINGS

KEY = "client-test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_embedder_path):
    root = tmp_path_factory.mktemp("client")
    folder = root / "jobs" / "notes"
    folder.mkdir(parents=True)
    for i in range(5):
        (folder / f"note{i}.txt").write_text(f"Note {i}: the chain needs oil every {i + 2} weeks.\n")
    settings = Settings(
        **{**TEST_SETTINGS, "data_dir": root / "data", "embedder": tiny_embedder_path, "job_roots": str(root / "jobs")},
        api_keys=[{"key": KEY, "scope": "admin"}],
    )
    with live_server(settings) as url:
        yield url, folder


def test_collections_upsert_search_delete(server):
    url, _ = server
    with Quarry(url, KEY) as q:
        created = q.create_collection("kb")
        assert created.name == "kb" and created.documents == 0
        report = q.upsert("kb", [
            Document("guides/bike.md", "To fix a flat tire, patch the inner tube.", title="Bike"),
            {"doc_id": "bread", "text": "Sourdough needs a starter.", "metadata": {"lang": "en"}},
        ])  # fmt: skip
        assert report["added"] == 2
        assert [c.name for c in q.collections()] == ["kb"] and q.collections()[0].documents == 2

        result = q.search("kb", "flat tire", top_k=1, mode="lexical")
        assert result.mode == "lexical" and not result.reranked
        assert [h.doc_id for h in result.hits] == ["guides/bike.md"] and result.hits[0].title == "Bike"
        batch = q.search_batch("kb", ["flat tire", "sourdough starter"], mode="lexical", top_k=1)
        assert [r.hits[0].doc_id for r in batch] == ["guides/bike.md", "bread"]
        assert q.search("kb", "starter", filter={"lang": "en"}, mode="lexical").hits[0].doc_id == "bread"

        assert q.get("kb", "guides/bike.md")["title"] == "Bike"  # a slash in the id survives the URL
        q.delete("kb", "guides/bike.md")
        with pytest.raises(QuarryAPIError) as missing:
            q.delete("kb", "guides/bike.md")
        assert missing.value.status == 404 and "guides/bike.md" in missing.value.message
        q.delete_collection("kb")
        assert q.collections() == []


def test_job_progress_callback(server):
    url, folder = server
    seen: list[Job] = []
    with Quarry(url, KEY) as q:
        q.create_collection("jobs")
        job = q.index("jobs", str(folder), progress=seen.append, timeout_s=120)
        assert job.state == "succeeded" and job.progress["documents_done"] == 5
        assert seen and seen[-1].finished and all(isinstance(j, Job) for j in seen)
        assert [j.id for j in q.jobs("jobs")] == [job.id]
        assert q.search("jobs", "chain oil", mode="lexical").hits


def test_errors_carry_the_servers_reason(server):
    url, _ = server
    with Quarry(url) as anonymous, pytest.raises(QuarryAPIError) as denied:
        anonymous.collections()
    assert denied.value.status == 401
    with Quarry(url, KEY) as q, pytest.raises(QuarryAPIError) as unknown:
        q.search("nope", "anything")
    assert unknown.value.status == 404 and unknown.value.type == "collection_not_found"


def test_importing_the_client_loads_no_server_or_model_code():
    code = "import sys, quarry.client; print(sorted(m for m in ('torch', 'service', 'models', 'indexer', 'fastapi') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
