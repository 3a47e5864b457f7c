"""Cheap quality levers on top of the default hybrid search, measured on many judged sets at once.

    python -m benchmarks.lever_study DATASET_DIR [DATASET_DIR ...] [--depth 100]

Each set's collection is built (or reused) as `quarry eval` builds it; every query is embedded once, and
each lever is scored by nDCG@10 beside the default hybrid ranking, with its cost per query:

- title: BM25 with another weight on the title column of the FTS table (bm25(fts, 1, w); the default is
  indexer.store.FTS_WEIGHTS[1]);
- rocchio: dense pseudo-relevance feedback, the query vector plus beta times the mean vector of the k
  best hybrid hits, searched again and fused again;
- rm3: lexical pseudo-relevance feedback, the terms that weigh most in the k best hybrid hits searched
  as a second BM25 query whose scores are added with weight lam;
- sum: passage-to-document aggregation, a document scores its best chunk plus gamma^i times its next ones;
- docfuse: each retriever's list folded into documents (best chunk) before fusion, so a document found
  by one chunk densely and by another lexically gets both.

A lever is worth keeping when it wins on more than one set and loses on none by more than 0.005.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from indexer.beir import load_beir
from indexer.segment import query_terms
from indexer.store import _STOPWORDS, FTS_WEIGHTS, fts_query
from service.eval.evaluation import ensure_collection, evaluate_rankings
from service.eval.ir_metrics import dedupe
from service.runtime import Runtime
from service.search.fusion import FusionConfig, collection_profile, fuse
from service.search.pipeline import query_text
from service.settings import load_settings

WORD = re.compile(r"\w+", re.UNICODE)


class LeverSet:
    """One judged set with its collection, its query vectors and a chunk cache."""

    def __init__(self, runtime, path: Path, depth: int):
        self.dataset = load_beir(path)
        self.collection, _ = ensure_collection(runtime, self.dataset, progress=False)
        settings = runtime.settings
        self.profile = collection_profile(self.collection.languages(), settings.embedder, settings.embedder_languages)
        self.queries = list(self.dataset.queries.items())
        self.vectors = runtime.embedder.encode([query_text(self.collection, q) for _, q in self.queries])
        self.depth = depth
        self.store = self.collection.store
        self._chunks: dict = {}

    def chunks(self, ids) -> dict:
        missing = [i for i in ids if i not in self._chunks]
        if missing:
            self._chunks.update(self.collection.chunks(missing))
        return {i: self._chunks[i] for i in ids if i in self._chunks}

    def lexical(self, text: str, title_weight: float = FTS_WEIGHTS[1], k: int | None = None) -> list[tuple[int, float]]:
        match = fts_query(text, segmented=self.store.segmented)
        if match is None:
            return []
        rows = self.store.conn.execute(
            "SELECT rowid, bm25(chunks_fts, 1.0, ?) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
            (title_weight, match, k or self.depth),
        ).fetchall()
        return [(int(r), -float(s)) for r, s in rows]

    def score(self, rankings: dict[str, list[tuple[int, float]]], aggregate=None) -> float:
        docs = {}
        for qid, ranked in rankings.items():
            chunks = self.chunks([cid for cid, _ in ranked])
            if aggregate is None:
                docs[qid] = dedupe([chunks[cid].doc_id for cid, _ in ranked if cid in chunks])[:100]
            else:
                docs[qid] = aggregate([(chunks[cid].doc_id, s) for cid, s in ranked if cid in chunks])[:100]
        return evaluate_rankings("", docs, self.dataset).metrics["ndcg@10"]


def hybrid(s: LeverSet, text: str, dense, lexical):
    return fuse(dense, lexical, FusionConfig(), query=text, profile=s.profile)[: s.depth]


def rocchio_vector(s: LeverSet, vector: np.ndarray, ranked, k: int, beta: float) -> np.ndarray:
    ids = np.array([cid for cid, _ in ranked[:k]], dtype=np.int64)
    if ids.size == 0:
        return vector
    moved = vector + beta * s.collection.vectors(ids).mean(axis=0)
    return (moved / max(np.linalg.norm(moved), 1e-12)).astype(np.float32)


def terms(s: LeverSet, text: str) -> list[str]:
    words = query_terms(text) if s.store.segmented else WORD.findall(text)
    return [w.lower() for w in words if w.lower() not in _STOPWORDS and len(w) > 1 and not w.isdigit()]


def rm3_lexical(s: LeverSet, text: str, ranked, lexical, k: int, n_terms: int, lam: float):
    """BM25 of the query plus lam times BM25 of the feedback terms (relevance-model weights, RM3 style)."""
    chunks = s.chunks([cid for cid, _ in ranked[:k]])
    weights: Counter = Counter()
    for cid, _ in ranked[:k]:
        if cid in chunks:
            words = terms(s, chunks[cid].text + " " + chunks[cid].title)
            if words:
                for word, count in Counter(words).items():
                    weights[word] += count / len(words)
    asked = set(terms(s, text))
    expansion = [w for w, _ in weights.most_common(n_terms + len(asked)) if w not in asked][:n_terms]
    if not expansion:
        return lexical
    extra = dict(s.lexical(" ".join(expansion)))
    combined = dict(lexical)
    for cid, value in extra.items():
        combined[cid] = combined.get(cid, 0.0) + lam * value
    return sorted(combined.items(), key=lambda item: (-item[1], item[0]))[: s.depth]


def decayed_sum(gamma: float):
    def aggregate(pairs):
        per_doc: dict[str, list[float]] = {}
        for doc, score in pairs:
            per_doc.setdefault(doc, []).append(score)
        scored = {d: sum(v * gamma**i for i, v in enumerate(sorted(values, reverse=True))) for d, values in per_doc.items()}
        return sorted(scored, key=lambda d: -scored[d])

    return aggregate


def fold(s: LeverSet, ranked):
    """A chunk list -> one entry per document (its best chunk's id and score), best first."""
    chunks = s.chunks([cid for cid, _ in ranked])
    seen, out = set(), []
    for cid, score in ranked:
        doc = chunks[cid].doc_id if cid in chunks else cid
        if doc not in seen:
            seen.add(doc)
            out.append((cid, score))
    return out


def docfuse(s: LeverSet, text: str, dense, lexical):
    """Fuse per document: a document's dense and lexical scores come from its best chunk in each list."""
    chunks = s.chunks([cid for cid, _ in dense + lexical])
    best_dense, best_lexical = fold(s, dense), fold(s, lexical[:50])
    key = {cid: chunks[cid].doc_id for cid, _ in best_dense + best_lexical if cid in chunks}
    representative = {}
    for cid, _ in best_dense + best_lexical:
        representative.setdefault(key.get(cid), cid)
    as_docs = lambda ranked: [(representative[key[cid]], score) for cid, score in ranked if cid in key]  # noqa: E731
    return fuse(as_docs(best_dense), as_docs(best_lexical), FusionConfig(), query=text, profile=s.profile)[: s.depth]


def study(s: LeverSet) -> dict[str, tuple[float, float]]:
    """variant -> (nDCG@10, mean extra ms per query over the default hybrid)."""
    base, dense_lists, lexical_lists, timings = {}, {}, {}, {}
    t0 = time.perf_counter()
    for (qid, text), vector in zip(s.queries, s.vectors):
        dense_lists[qid] = s.collection.dense_search(vector, s.depth)
        lexical_lists[qid] = s.lexical(text)
        base[qid] = hybrid(s, text, dense_lists[qid], lexical_lists[qid])
    base_ms = (time.perf_counter() - t0) * 1000 / len(s.queries)
    out = {"dense": (s.score(dense_lists), 0.0), "lexical": (s.score(lexical_lists), 0.0), "hybrid": (s.score(base), base_ms)}

    def run(name, make, aggregate=None):
        rankings = {}
        t = time.perf_counter()
        for (qid, text), vector in zip(s.queries, s.vectors):
            rankings[qid] = make(qid, text, vector)
        timings[name] = (time.perf_counter() - t) * 1000 / len(s.queries)
        out[name] = (s.score(rankings, aggregate), timings[name])

    for w in (0.0, 0.3, 1.0, 3.0):
        run(f"title{w:g}", lambda qid, text, v, w=w: hybrid(s, text, dense_lists[qid], s.lexical(text, w)))
    for k, beta in ((3, 0.5), (5, 0.5), (5, 1.0), (10, 0.5)):
        run(f"rocchio{k}/{beta:g}", lambda qid, text, v, k=k, beta=beta: hybrid(
            s, text, s.collection.dense_search(rocchio_vector(s, v, base[qid], k, beta), s.depth), lexical_lists[qid]))
    for k, n, lam in ((5, 10, 0.3), (10, 10, 0.5)):
        run(f"rm3_{k}/{n}/{lam:g}", lambda qid, text, v, k=k, n=n, lam=lam: hybrid(
            s, text, dense_lists[qid], rm3_lexical(s, text, base[qid], lexical_lists[qid], k, n, lam)))
    for gamma in (0.1, 0.3, 0.5):
        out[f"sum{gamma:g}"] = (s.score(base, decayed_sum(gamma)), 0.0)
    run("docfuse", lambda qid, text, v: docfuse(s, text, dense_lists[qid], lexical_lists[qid]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args(argv)
    runtime = Runtime(load_settings(reranker="none"))
    results = {}
    for path in args.datasets:
        s = LeverSet(runtime, Path(path), args.depth)
        results[s.dataset.name] = study(s)
        row = results[s.dataset.name]
        print(s.dataset.name, " ".join(f"{n}={v:.4f}({ms:.1f}ms)" for n, (v, ms) in row.items()), flush=True)
    names = list(next(iter(results.values())))
    print("\n| set | " + " | ".join(names) + " |")
    print("|" + " --- |" * (len(names) + 1))
    for name, row in results.items():
        base = row["hybrid"][0]
        cells = [f"{row[n][0]:.4f}" if n in ("dense", "lexical", "hybrid") else f"{row[n][0] - base:+.4f}" for n in names]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nms per query (retrieval + fusion; the levers' runs reuse the lists they do not change):")
    for name, row in results.items():
        print(name, " ".join(f"{n}={ms:.2f}" for n, (_, ms) in row.items() if ms))


if __name__ == "__main__":
    main()
