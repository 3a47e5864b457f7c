import numpy as np
import pytest

from indexer.catalog import validate_name
from indexer.collection import Collection
from indexer.layout import INDEX_FILE, INDEX_STAMP, Manifest
from indexer.documents import Document
from indexer.errors import CollectionExists, CollectionNotFound, EmbedderMismatch, InvalidName
from indexer.pipeline import Indexer


@pytest.fixture
def collection(catalog, tiny_embedder, tiny_embedder_path):
    manifest = Manifest("docs", tiny_embedder_path, tiny_embedder.dimension, chunk_size=32, chunk_overlap=4)
    return catalog.create(manifest)


def _indexer(collection, embedder):
    return Indexer(collection, embedder)


def _consistent(collection: Collection) -> None:
    """The derived FAISS index holds exactly the chunk ids SQLite holds."""
    assert sorted(collection.index.ids().tolist()) == collection.store.chunk_ids().tolist()


def test_upsert_is_idempotent(collection, tiny_embedder):
    indexer = _indexer(collection, tiny_embedder)
    docs = [Document("a", "the bread and the flour"), Document("b", "the planet and the sun")]
    first = indexer.upsert(docs)
    assert (first.added, first.updated, first.unchanged) == (2, 0, 0)
    again = indexer.upsert(docs)
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 2, 0)
    assert collection.counts() == {"documents": 2, "chunks": 2}
    _consistent(collection)


def test_changed_document_replaces_its_chunks(collection, tiny_embedder):
    indexer = _indexer(collection, tiny_embedder)
    indexer.upsert([Document("a", "the bread " * 40)])
    old_ids = collection.store.chunk_ids().tolist()
    report = indexer.upsert([Document("a", "the planet")])
    assert report.updated == 1
    assert collection.counts() == {"documents": 1, "chunks": 1}
    assert not set(old_ids) & set(collection.store.chunk_ids().tolist())
    assert collection.lexical_search("bread", 5) == []
    assert collection.lexical_search("planet", 5)
    _consistent(collection)


def test_delete_removes_from_sqlite_fts_and_faiss(collection, tiny_embedder):
    indexer = _indexer(collection, tiny_embedder)
    indexer.upsert([Document("a", "the bread"), Document("b", "the planet")])
    assert collection.delete(["a", "missing"]) == 1
    assert collection.counts()["documents"] == 1
    assert collection.lexical_search("bread", 5) == []
    hits = collection.dense_search(tiny_embedder.encode(["the bread"])[0], 10)
    assert len(hits) == 1
    _consistent(collection)


def test_repeated_ids_in_one_batch_keep_the_last(collection, tiny_embedder):
    report = _indexer(collection, tiny_embedder).upsert([Document("a", "first"), Document("a", "the planet")])
    assert report.added == 1 and "repeated" in report.warnings[0]
    assert collection.store.get_document("a").text == "the planet"


def test_dense_search_returns_cosine_scores(collection, tiny_embedder):
    _indexer(collection, tiny_embedder).upsert([Document("a", "the bread"), Document("b", "a red cat")])
    vector = tiny_embedder.encode(["the bread"])[0]
    [(top_id, top_score), _] = collection.dense_search(vector, 5)
    assert collection.store.chunks_by_id([top_id])[top_id].doc_id == "a"
    assert top_score == pytest.approx(1.0, abs=1e-4)


def test_lexical_query_with_operators_is_safe(collection, tiny_embedder):
    _indexer(collection, tiny_embedder).upsert([Document("a", "NEAR the AND bread OR planet")])
    for query in ['"unbalanced', "a AND OR NOT", "bread*", "(", "NEAR(x y)", "col:val", "!!!"]:
        collection.lexical_search(query, 5)  # must not raise
    assert collection.lexical_search("bread", 5)


@pytest.mark.parametrize("damage", ["missing", "truncated", "stale"])
def test_index_file_is_rebuilt_or_caught_up_on_open(catalog, collection, tiny_embedder, damage, caplog):
    indexer = _indexer(collection, tiny_embedder)
    indexer.upsert([Document(f"d{i}", f"the bread number {i}") for i in range(5)])
    collection.save_index()
    path = collection.directory / INDEX_FILE
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:50])
    else:  # a write that reached SQLite but not the saved index (a crash before save)
        saved = path.read_bytes(), (collection.directory / INDEX_STAMP).read_text()
        indexer.upsert([Document("new", "the planet")])
        collection.delete(["d0"])
        path.write_bytes(saved[0])
        (collection.directory / INDEX_STAMP).write_text(saved[1])
        collection._dirty = False
    collection.store.close()
    reopened = Collection.open(collection.directory, tiny_embedder_path_of(collection))
    _consistent(reopened)
    assert len(reopened.index) == reopened.counts()["chunks"]
    assert "rebuilding" in caplog.text or "caught up" in caplog.text
    reopened.close()


def tiny_embedder_path_of(collection):
    return collection.manifest.embedder


def test_index_saved_on_close_is_reused(catalog, collection, tiny_embedder, caplog):
    _indexer(collection, tiny_embedder).upsert([Document("a", "the bread")])
    collection.close()
    reopened = Collection.open(collection.directory)
    assert len(reopened.index) == 1 and "rebuilding" not in caplog.text and "caught up" not in caplog.text
    reopened.close()


def test_another_process_writes_are_picked_up(collection, tiny_embedder):
    other = Collection.open(collection.directory)  # a second handle, as a CLI beside a server
    _indexer(other, tiny_embedder).upsert([Document("a", "the bread")])
    assert collection.dense_search(tiny_embedder.encode(["the bread"])[0], 5)
    _consistent(collection)
    other.close()


def test_embedder_mismatch_is_refused(catalog, collection):
    with pytest.raises(EmbedderMismatch, match="was built with embedder"):
        Collection.open(collection.directory, "some/other-model")
    with pytest.raises(EmbedderMismatch, match="dimensional"):
        Collection.open(collection.directory, None, dimension=collection.manifest.dimension + 1)
    with pytest.raises(EmbedderMismatch):
        catalog.open("docs", "some/other-model")


def test_catalog_names_and_errors(catalog, collection):
    assert catalog.names() == ["docs"]
    with pytest.raises(CollectionExists):
        catalog.create(collection.manifest)
    with pytest.raises(CollectionNotFound, match="collections: docs"):
        catalog.open("nope")
    catalog.delete("docs")
    assert catalog.names() == []


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 65, "a..b", "with space"])
def test_bad_collection_names(name):
    with pytest.raises(InvalidName):
        validate_name(name)


def test_manifest_round_trip(tmp_path):
    manifest = Manifest("m", "emb", 8, 100, 10)
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest


def test_vectors_are_stored_in_sqlite(collection, tiny_embedder):
    _indexer(collection, tiny_embedder).upsert([Document("a", "the bread")])
    [(ids, vectors)] = list(collection.store.iter_vectors())
    np.testing.assert_allclose(vectors[0], tiny_embedder.encode(["the bread"])[0], atol=1e-5)
