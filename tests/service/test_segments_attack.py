"""Segmented collections (`--writers 4`) used the way users use a collection: every command and route
must see one collection, never an old or deleted copy held in a sealed segment."""

import json
import shutil
import threading

import pytest

from tests.cli_runner import run

WORDS = {
    "bread": "the bread rises in a warm oven", "planet": "the planet circles the sun",
    "flour": "flour water salt and yeast make bread", "comet": "a comet has a long tail of ice",
    "sour": "sourdough needs a starter culture", "moon": "the moon pulls the tides",
    "rye": "rye bread is dense and dark", "jupiter": "jupiter is the largest planet",
    "knead": "knead the dough for ten minutes", "saturn": "saturn has bright rings of ice",
    "river": "the river meets the sea at the delta", "harbor": "ships sail out of the harbor at dawn",
}  # fmt: skip


def corpus(root):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in WORDS.items():
        (root / f"{name}.txt").write_text(text + "\n")
    return root


def segmented(settings_env, tmp_path, capsys, name="seg"):
    folder = corpus(tmp_path / "corpus")
    code, out, err = run(capsys, "index", str(folder), "-c", name, "--no-progress", "--writers", "4")
    assert code == 0, err
    segs = settings_env / "collections" / name / "segments"
    assert len([p for p in segs.iterdir() if not p.name.startswith(".")]) >= 2
    return folder


def lexical(capsys, query, name="seg", k=20):
    code, out, err = run(capsys, "search", query, "-c", name, "--mode", "lexical", "--json", "-k", str(k))
    assert code == 0, err
    return [h["doc_id"] for h in json.loads(out)["hits"]]


def test_reindex_unchanged_and_one_changed_file(settings_env, tmp_path, capsys):
    folder = segmented(settings_env, tmp_path, capsys)
    code, out, _ = run(capsys, "index", str(folder), "-c", "seg", "--no-progress", "--writers", "4")
    assert "0 added, 0 updated, 12 unchanged" in out
    (folder / "saturn.txt").write_text("saturn is a gas giant with a hexagon storm\n")
    code, out, _ = run(capsys, "index", str(folder), "-c", "seg", "--no-progress", "--writers", "4", "--json")
    summary = json.loads(out)
    assert (summary["updated"], summary["total_documents"]) == (1, 12)
    assert lexical(capsys, "rings") == []
    assert lexical(capsys, "hexagon") == ["corpus/saturn.txt"]


def test_delete_by_id_and_by_path(settings_env, tmp_path, capsys):
    folder = segmented(settings_env, tmp_path, capsys)
    code, out, err = run(capsys, "delete", "-c", "seg", "corpus/jupiter.txt")
    assert code == 0 and "removed 1 document" in out, (out, err)
    code, out, err = run(capsys, "delete", "-c", "seg", str(folder / "comet.txt"))
    assert code == 0 and "removed 1 document" in out, (out, err)
    assert lexical(capsys, "jupiter") == [] and lexical(capsys, "comet") == []
    code, out, _ = run(capsys, "collections", "--json")
    assert code == 0 and [(c["name"], c["documents"]) for c in json.loads(out)] == [("seg", 10)]


def test_optimize_same_hits_and_check(settings_env, tmp_path, capsys):
    segmented(settings_env, tmp_path, capsys)
    before = [lexical(capsys, q) for q in ("bread", "ice", "planet sun")]
    code, out, err = run(capsys, "optimize", "-c", "seg")
    assert code == 0, err
    after = [lexical(capsys, q) for q in ("bread", "ice", "planet sun")]
    assert [sorted(b) for b in before] == [sorted(a) for a in after]
    code, out, err = run(capsys, "check", "-c", "seg")
    assert code == 0, out + err


def test_snapshot_restore_searches_the_same(settings_env, tmp_path, capsys):
    segmented(settings_env, tmp_path, capsys)
    code, out, err = run(capsys, "snapshot", str(tmp_path / "snap"), "-c", "seg")
    assert code == 0, err
    code, out, err = run(capsys, "restore", str(tmp_path / "snap"), "-c", "back")
    assert code == 0, err
    for q in ("bread", "ice", "planet sun"):
        assert lexical(capsys, q) == lexical(capsys, q, name="back")
    code, out, err = run(capsys, "check", "-c", "back")
    assert code == 0, out + err


def test_check_repair_orphan_and_missing_segment(settings_env, tmp_path, capsys):
    segmented(settings_env, tmp_path, capsys)
    segs = settings_env / "collections" / "seg" / "segments"
    (segs / ".tmp-x-1-abc").mkdir()
    code, out, err = run(capsys, "check", "-c", "seg", "--repair")
    assert code == 0 and not (segs / ".tmp-x-1-abc").exists(), out + err
    victim = sorted(p for p in segs.iterdir() if not p.name.startswith("."))[0]
    shutil.rmtree(victim)
    code, out, err = run(capsys, "check", "-c", "seg")  # a segment folder deleted by hand: named, not a crash
    assert code == 1 and f"segment '{victim.name}' is listed as live but" in out and "not repairable" in out
    code, out, err = run(capsys, "search", "bread", "-c", "seg", "--mode", "lexical")
    assert code == 1 and err.startswith(f"error: segment '{victim.name}'") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["0", "-1", "1000"])
def test_writers_out_of_range_is_one_error_line_before_anything_is_made(settings_env, tmp_path, capsys, value):
    folder = corpus(tmp_path / "corpus")  # 0 and -1 used to mean "the default" and 1, 1000 made 1000 threads and segments
    code, out, err = run(capsys, "index", str(folder), "-c", "w", "--no-progress", "--writers", value)
    assert code == 1 and err.strip() == f"error: --writers must be between 1 and 64 (got {value})"
    assert not (settings_env / "collections" / "w").exists()


def test_bad_writers_env(settings_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUARRY_INDEX_WRITERS", "abc")
    folder = corpus(tmp_path / "corpus")
    code, out, err = run(capsys, "index", str(folder), "-c", "w", "--no-progress")
    assert code == 1 and err.startswith("error: invalid settings: QUARRY_INDEX_WRITERS") and len(err.strip().splitlines()) == 1


def test_rest_replace_and_delete_documents_held_by_sealed_segments(settings_env, tmp_path, capsys, make_client):
    segmented(settings_env, tmp_path, capsys)
    with make_client() as client:
        assert client.get("/v1/collections/seg").json()["documents"] == 12
        body = {"text": "saturn is a gas giant with a hexagon storm", "metadata": {"kind": "new"}}
        assert client.put("/v1/collections/seg/documents/corpus/saturn.txt", json=body).json()["status"] != "unchanged"
        assert client.delete("/v1/collections/seg/documents/corpus/jupiter.txt").status_code == 200
        info = client.get("/v1/collections/seg").json()
        assert (info["documents"], info["chunks"]) == (11, 11), info
        for mode in ("lexical", "dense", "hybrid"):
            hits = client.post("/v1/collections/seg/search", json={"query": "rings jupiter largest", "mode": mode, "top_k": 20}).json()["hits"]
            ids = [h["doc_id"] for h in hits]
            assert "corpus/jupiter.txt" not in ids and len(ids) == len(set(ids)), (mode, ids)
            assert all("rings" not in h["text"] for h in hits), mode
            new = client.post("/v1/collections/seg/search", json={"query": "hexagon", "mode": mode, "top_k": 20, "filter": {"kind": "new"}}).json()["hits"]
            assert [h["doc_id"] for h in new] == ["corpus/saturn.txt"], (mode, new)
        assert client.get("/v1/collections/seg/documents/corpus/jupiter.txt").status_code == 404
        assert client.get("/v1/collections/seg/documents/corpus/saturn.txt").json()["text"].startswith("saturn is a gas")
        listed = client.get("/v1/collections/seg/documents", params={"limit": 100}).json()["documents"]
        assert len(listed) == 11 and "corpus/jupiter.txt" not in {d["doc_id"] for d in listed}


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_a_search_racing_optimize_keeps_its_hits(catalog_dir_collection, tiny_embedder, mode):
    """optimize (or a background merge) commits between a search's retrieval and its fetch of the chunks:
    the chunk ids it retrieved are renumbered, the documents are all still there. It used to return no hits."""
    from indexer.merge import optimize
    from service.search.pipeline import search

    collection = catalog_dir_collection
    expected = search(collection, tiny_embedder, "bread oven", top_k=5, mode=mode, rerank=False).hits
    assert len(expected) >= 3 and collection.segments
    fetch, raced = collection.chunks, threading.Event()

    def chunks_after_optimize(ids):
        if not raced.is_set():
            raced.set()
            optimize(collection)  # lands after this search's retrieval, before its fetch
        return fetch(ids)

    collection.chunks = chunks_after_optimize
    result = search(collection, tiny_embedder, "bread oven", top_k=5, mode=mode, rerank=False)
    assert raced.is_set() and not collection.segments
    assert [(h.doc_id, h.text) for h in result.hits] == [(h.doc_id, h.text) for h in expected]


def test_a_search_whose_segment_is_merged_away_mid_read_retries(catalog_dir_collection, tiny_embedder):
    """optimize commits and removes a segment's folder after a search chose that segment, before it opened it:
    the read fails with "segment missing". The search retrieves again from the new state instead of failing."""
    from indexer.merge import optimize
    from service.search.pipeline import search

    collection = catalog_dir_collection
    expected = search(collection, tiny_embedder, "bread oven", top_k=5, mode="lexical", rerank=False).hits
    collection.segments.close()  # nothing opened yet: the next read opens each segment
    open_store, raced = collection.segments.store, threading.Event()

    def store_after_optimize(name):
        if not raced.is_set():
            raced.set()
            optimize(collection)  # folds `name` into the base and removes its folder
        return open_store(name)

    collection.segments.store = store_after_optimize
    result = search(collection, tiny_embedder, "bread oven", top_k=5, mode="lexical", rerank=False)
    assert raced.is_set() and not collection.segments
    assert [(h.doc_id, h.text) for h in result.hits] == [(h.doc_id, h.text) for h in expected]


@pytest.fixture
def catalog_dir_collection(tmp_path, tiny_embedder, tiny_embedder_path):
    from indexer.catalog import Catalog
    from indexer.layout import Manifest
    from indexer.pipeline import Indexer

    catalog = Catalog(tmp_path / "data")
    collection = catalog.create(Manifest("c", tiny_embedder_path, tiny_embedder.dimension, chunk_size=32, chunk_overlap=4))
    Indexer(collection, tiny_embedder, batch_documents=4, writers=4).index_paths([corpus(tmp_path / "corpus")], progress=False)
    try:
        yield collection
    finally:
        catalog.close()


def test_prune_and_rest_replace_then_optimize_keep_only_the_new_state(settings_env, tmp_path, capsys, make_client):
    folder = segmented(settings_env, tmp_path, capsys)
    (folder / "moon.txt").unlink()
    code, out, _ = run(capsys, "index", str(folder), "-c", "seg", "--no-progress", "--writers", "4", "--prune", "--json")
    assert (json.loads(out)["removed"], json.loads(out)["total_documents"]) == (1, 11)
    with make_client(merge_interval_s=0) as client:
        body = {"text": "rye bread is light now", "metadata": {"kind": "new"}}
        assert client.put("/v1/collections/seg/documents/corpus/rye.txt", json=body).status_code == 200
    code, out, err = run(capsys, "optimize", "-c", "seg")
    assert code == 0, err
    assert lexical(capsys, "tides") == [] and lexical(capsys, "dense dark") == []
    assert lexical(capsys, "light") == ["corpus/rye.txt"]
    code, out, err = run(capsys, "check", "-c", "seg")
    assert code == 0 and "12 documents" not in out, out + err
    code, out, _ = run(capsys, "collections", "--json")
    assert [(c["name"], c["documents"]) for c in json.loads(out)] == [("seg", 11)]
