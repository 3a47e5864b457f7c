"""Real semantics with the bundled MiniLM: plain questions find the obvious document first."""

from pathlib import Path

import pytest

from service.runtime import Runtime
from service.search.pipeline import search
from service.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "corpus"

QUESTIONS = {
    "how do I fix a punctured bike tyre": "corpus/bicycle-maintenance.html",
    "what temperature should water be for green tea": "corpus/tea-guide.pdf",
    "which planet is the hottest": "corpus/solar-system.txt",
    "how to undo my last git commit": "corpus/git-basics.html",
    "my starter has grey liquid on top": "corpus/sourdough-bread.md",
    "what should I put on a burn": "corpus/first-aid-for-burns.md",
    "why are the leaves of my plant turning yellow": "corpus/houseplant-care.txt",
    "coffee tastes bitter": "corpus/coffee-brewing.htm",
    "isolate dependencies for each project": "corpus/python-virtual-environments.md",
}


@pytest.fixture(scope="module")
def sample_runtime(tmp_path_factory):
    runtime = Runtime(Settings(data_dir=tmp_path_factory.mktemp("data"), reranker="none", device="cpu"))
    collection = runtime.create_collection("sample")
    report = runtime.indexer(collection).index_paths([SAMPLES], progress=False)
    assert report.added == 9 and report.skipped == 0
    yield runtime
    runtime.close()


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
@pytest.mark.parametrize("question,expected", list(QUESTIONS.items()))
def test_right_document_first(sample_runtime, question, expected, mode):
    collection = sample_runtime.open_collection("sample")
    result = search(collection, sample_runtime.embedder, question, top_k=3, mode=mode, rerank=False)
    assert result.hits[0].doc_id == expected, [h.doc_id for h in result.hits]
