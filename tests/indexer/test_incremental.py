"""Re-runs read only what changed; ids do not depend on the folder named; documents can be deleted by id or path."""

import os

import pytest

from indexer import pipeline
from indexer.collection import Manifest
from indexer.documents import Document
from indexer.pipeline import Indexer
from indexer.sources import delete_targets
from tests.format_factory import write_mbox


@pytest.fixture
def collection(catalog, tiny_embedder, tiny_embedder_path):
    return catalog.create(Manifest("inc", tiny_embedder_path, tiny_embedder.dimension, chunk_size=32, chunk_overlap=4))


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    (root / "git" / "howto").mkdir(parents=True)
    (root / "intro.md").write_text("# Intro\n\nWelcome to the handbook.\n")
    (root / "git" / "howto" / "undo.md").write_text("# Undo\n\nUse git revert to undo a pushed commit.\n")
    (root / "git" / "howto" / "branch.txt").write_text("Create a branch with git switch -c.\n")
    write_mbox(root / "list.mbox")
    return root


@pytest.fixture
def reads(monkeypatch):
    """The files index_paths actually reads."""
    seen = []
    real = pipeline.load_file

    def counting(path, doc_id):
        seen.append(path.name)
        return real(path, doc_id)

    monkeypatch.setattr(pipeline, "load_file", counting)
    return seen


def test_an_unchanged_folder_is_not_read_again(docs, collection, tiny_embedder, reads):
    indexer = Indexer(collection, tiny_embedder)
    first = indexer.index_paths([docs], progress=False)
    assert first.added == 5 and len(reads) == 4
    reads.clear()
    again = indexer.index_paths([docs], progress=False)
    assert (again.added, again.updated, again.unchanged, again.loaded) == (0, 0, 5, 0) and reads == []
    undo = docs / "git" / "howto" / "undo.md"
    os.utime(undo, ns=(undo.stat().st_atime_ns, undo.stat().st_mtime_ns + 10**9))  # touched, same content
    touched = indexer.index_paths([docs], progress=False)
    assert reads == ["undo.md"] and (touched.unchanged, touched.updated) == (5, 0)
    reads.clear()
    rehashed = indexer.index_paths([docs], progress=False, rehash=True)
    assert len(reads) == 4 and rehashed.unchanged == 5


def test_a_changed_or_deleted_document_is_read_again(docs, collection, tiny_embedder, reads):
    indexer = Indexer(collection, tiny_embedder)
    indexer.index_paths([docs], progress=False)
    reads.clear()
    (docs / "intro.md").write_text("# Intro\n\nWelcome to the new handbook, now longer.\n")
    collection.delete([next(d for d in collection.store.content_hashes(["docs/list.mbox#2"]))])
    report = indexer.index_paths([docs], progress=False)
    assert sorted(reads) == ["intro.md", "list.mbox"] and (report.updated, report.added) == (1, 1)


def test_indexing_a_subfolder_again_adds_nothing(docs, collection, tiny_embedder):
    indexer = Indexer(collection, tiny_embedder)
    indexer.index_paths([docs], progress=False)
    before = collection.counts()
    report = indexer.index_paths([docs / "git" / "howto"], progress=False, rehash=True)
    assert (report.added, report.unchanged) == (0, 2) and collection.counts() == before
    (docs / "git" / "howto" / "new.md").write_text("# New\n\nA file new to the subfolder.\n")
    indexer.index_paths([docs / "git" / "howto"], progress=False)
    assert collection.store.get_document("docs/git/howto/new.md") is not None  # named below the same anchor
    single = indexer.index_paths([docs / "intro.md"], progress=False)
    assert single.unchanged == 1 and collection.counts()["documents"] == before["documents"] + 1


def test_ids_come_from_the_project_root_whichever_folder_is_named(tmp_path, collection, tiny_embedder):
    repo = tmp_path / "handbook"
    (repo / "docs" / "howto").mkdir(parents=True)
    (repo / ".git").mkdir()
    (repo / "docs" / "howto" / "setup.md").write_text("# Setup\n\nInstall the tools first.\n")
    Indexer(collection, tiny_embedder).index_paths([repo / "docs" / "howto"], progress=False)
    assert collection.store.get_document("handbook/docs/howto/setup.md") is not None


def test_collections_with_older_ids_keep_them(docs, collection, tiny_embedder):
    """A document stored under an id from the old scheme is found by its path, not added again."""
    undo = docs / "git" / "howto" / "undo.md"
    Indexer(collection, tiny_embedder).upsert([Document("howto/undo.md", undo.read_text(), "undo", str(undo.resolve()), {"format": "markdown"}, "markdown")])
    report = Indexer(collection, tiny_embedder).index_paths([docs], progress=False)
    assert report.added == 4 and collection.store.get_document("docs/git/howto/undo.md") is None
    assert collection.store.get_document("howto/undo.md") is not None


def test_delete_by_id_path_or_folder(docs, collection, tiny_embedder, reads):
    Indexer(collection, tiny_embedder).index_paths([docs], progress=False)
    assert delete_targets(collection, ["docs/list.mbox"]) == (["docs/list.mbox#1", "docs/list.mbox#2"], [])
    deleted, missing = delete_targets(collection, [str(docs / "intro.md"), "no/such/id"])
    assert deleted == ["docs/intro.md"] and missing == ["no/such/id"]
    deleted, _ = delete_targets(collection, [str(docs / "git")], dry_run=True)
    assert sorted(deleted) == ["docs/git/howto/branch.txt", "docs/git/howto/undo.md"] and collection.counts()["documents"] == 2
    delete_targets(collection, [str(docs / "git")])
    assert collection.counts()["documents"] == 0 and collection.index.ids().size == 0
    reads.clear()
    assert Indexer(collection, tiny_embedder).index_paths([docs], progress=False).added == 5  # forgotten files are read again
    assert len(reads) == 4


def test_progress_counts_chunks_with_an_estimate_from_the_first_batch(docs, collection, tiny_embedder):
    seen = []
    Indexer(collection, tiny_embedder, batch_documents=1).index_paths(
        [docs], progress=False, on_progress=lambda p: seen.append((p.chunks_done, p.chunks_total, p.done))
    )
    assert seen[0] == (0, 0, 0)
    first = seen[1]
    assert first[0] > 0 and first[1] >= first[0]  # an estimate of all chunks once the first batch is in
    assert seen[-1][0] == seen[-1][1] == collection.counts()["chunks"]
