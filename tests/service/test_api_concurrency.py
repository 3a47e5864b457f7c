"""Searches while documents are written: no errors, no half-written documents (bounded: ~2 s of traffic)."""

import threading
import time

PARAGRAPHS = 4  # every version of a document has this many chunks


def document(version: int) -> dict:
    paragraphs = [f"Version {version} paragraph {p}: the tire pressure and valve notes for wheel {p}." for p in range(PARAGRAPHS)]
    return {"text": "\n\n".join(paragraphs), "metadata": {"version": version}}


def test_concurrent_searches_during_upserts(make_client):
    # query_batching on: exercise the micro-batcher on CPU too
    with make_client(collections=["kb"], chunk_size=24, chunk_overlap=2, query_batching="on") as client:
        for d in range(3):
            assert client.put(f"/v1/collections/kb/documents/doc{d}", json=document(0)).json()["chunks"] == PARAGRAPHS
        errors: list[str] = []
        searches = [0]
        stop = time.monotonic() + 2.0
        lock = threading.Lock()

        def writer():
            version = 1
            while time.monotonic() < stop and not errors:
                for d in range(3):
                    r = client.put(f"/v1/collections/kb/documents/doc{d}", json=document(version))
                    if r.status_code != 200 or r.json()["chunks"] != PARAGRAPHS:
                        errors.append(f"upsert: {r.status_code} {r.text}")
                version += 1

        def reader(mode):
            n = 0
            while time.monotonic() < stop and n < 200 and not errors:
                r = client.post("/v1/collections/kb/search", json={"query": "tire pressure valve wheel", "mode": mode, "top_k": 50, "candidates": 50})
                n += 1
                if r.status_code != 200:
                    errors.append(f"search {mode}: {r.status_code} {r.text}")
                    continue
                per_doc: dict[str, set] = {}
                for hit in r.json()["hits"]:
                    per_doc.setdefault(hit["doc_id"], set()).add(hit["metadata"]["version"])
                    if f"Version {hit['metadata']['version']} " not in hit["text"]:
                        errors.append(f"chunk text and document metadata disagree: {hit}")
                if any(len(versions) > 1 for versions in per_doc.values()):
                    errors.append(f"mixed versions of one document in one result: {per_doc}")
            with lock:
                searches[0] += n

        threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(m,)) for m in ("hybrid", "dense", "lexical")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors[:3]
        assert searches[0] >= 3
        counts = client.get("/v1/collections/kb").json()
        assert (counts["documents"], counts["chunks"]) == (3, 3 * PARAGRAPHS)
        health = client.get("/health").json()
        assert health["query_batching"] is True
