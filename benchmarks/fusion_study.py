"""Hybrid fusion across several judged sets at once: each retriever runs once per query, every fusion
variant is scored offline, and parameters are chosen leave-one-dataset-out.

    python -m benchmarks.fusion_study DATASET_DIR [DATASET_DIR ...] [--cache DIR] [--depth 100]

For every set it prints nDCG@10 of dense, lexical, the default hybrid and each variant, and how far
each falls below the better of dense and lexical on that set (the "never lose to its best half"
margin). Parameters of a variant family are picked on all sets but one and scored on the one left
out, so no set's score comes from its own queries. The lists are cached (--cache) so a rerun after a
fusion change costs no embedding.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
from pathlib import Path

from indexer.beir import load_beir
from service.eval.evaluation import ensure_collection, evaluate_rankings
from service.eval.ir_metrics import dedupe
from service.runtime import Runtime
from service.search.fusion import FusionConfig, adaptive_weight, collection_profile, fuse
from service.search.pipeline import query_text
from service.settings import load_settings


def retrieve(runtime, dataset, depth: int) -> dict:
    """Per set: the two candidate lists of every query, chunk -> document, and the collection profile."""
    collection, _ = ensure_collection(runtime, dataset, progress=False)
    vectors = runtime.embedder.encode([query_text(collection, q) for q in dataset.queries.values()])
    lists = {}
    for (qid, text), vector in zip(dataset.queries.items(), vectors):
        lists[qid] = (text, collection.dense_search(vector, depth), collection.lexical_search(text, depth))
    ids = {cid for _, d, l in lists.values() for cid, _ in d + l}
    docs = {cid: c.doc_id for cid, c in collection.store.chunks_by_id(ids).items()}
    return {"lists": lists, "docs": docs}


def load_lists(runtime, path: Path, cache: Path | None, depth: int) -> tuple[object, dict]:
    dataset = load_beir(path)
    key = hashlib.sha256(f"{dataset.fingerprint}:{depth}:{runtime.settings.embedder}".encode()).hexdigest()[:12]
    cached = cache / f"{dataset.name}-{key}.pkl" if cache else None
    if cached and cached.exists():
        data = pickle.loads(cached.read_bytes())
    else:
        data = retrieve(runtime, dataset, depth)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(pickle.dumps(data))
    data["profile"] = collection_profile_from(runtime, dataset, data)
    return dataset, data


def collection_profile_from(runtime, dataset, data):
    """The profile as today's code computes it (cached lists may predate a change to it)."""
    collection, _ = ensure_collection(runtime, dataset, progress=False)
    settings = runtime.settings
    return collection_profile(collection.languages(), settings.embedder, settings.embedder_languages)


def score(dataset, data, make) -> float:
    rankings = {}
    for qid, (text, dense, lexical) in data["lists"].items():
        ranked = make(text, dense, lexical, data["profile"])
        rankings[qid] = dedupe([data["docs"][cid] for cid, _ in ranked if cid in data["docs"]])[:100]
    return evaluate_rankings("", rankings, dataset).metrics["ndcg@10"]


def config(**kw):
    return lambda text, d, l, p: fuse(d, l, FusionConfig(**kw), query=text, profile=p)


def variants() -> dict:
    return {
        "convex0.7": config(method="convex", dense_weight=0.7),
        "rrf": config(method="rrf", dense_weight=0.5, lexical_depth=0),
        "adaptive": config(method="adaptive"),
    }


GRID = [(w, slope, bias) for w in (0.5, 0.6, 0.7, 0.8) for slope in (0.0, 0.25, 0.5, 1.0, 2.0) for bias in (-1.0, -0.5, 0.0, 0.5, 1.0)]


def adaptive_grid(w: float, slope: float, bias: float):
    def make(text, d, l, p):
        weight = adaptive_weight(d, l[:50], text, p, FusionConfig(dense_weight=w), slope=slope, bias=bias)
        return fuse(d, l, FusionConfig("convex", weight))

    return make


def objective(margins: list[float]) -> float:
    """Mean margin over the best half, plus the worst one: a loss on one set is not bought by wins elsewhere."""
    return sum(margins) / len(margins) + min(margins)


def leave_one_out(sets: list, halves: dict) -> None:
    """For each set: the grid point best on all the others, and its score on the one left out."""
    table = {}
    for dataset, data in sets:
        table[dataset.name] = {params: score(dataset, data, adaptive_grid(*params)) - halves[dataset.name] for params in GRID}
    print("\nleave-one-dataset-out (dense weight, slope, bias chosen on the other sets):")
    for name in table:
        others = [n for n in table if n != name]
        best = max(GRID, key=lambda params: objective([table[n][params] for n in others]))
        print(f"  {name:<16} chose w={best[0]} slope={best[1]} bias={best[2]}: held-out margin {table[name][best]:+.4f}")
    overall = max(GRID, key=lambda params: objective([table[n][params] for n in table]))
    print(f"  on all sets: w={overall[0]} slope={overall[1]} bias={overall[2]}: margins "
          + " ".join(f"{n} {table[n][overall]:+.3f}" for n in table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--cache", type=Path, help="folder for the retrieved lists")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--grid", action="store_true", help="also choose adaptive parameters leave-one-dataset-out")
    args = parser.parse_args()
    runtime = Runtime(load_settings(reranker="none"))
    sets = [load_lists(runtime, Path(p), args.cache, args.depth) for p in args.datasets]
    names = list(variants())
    print(f"{'set':<16}{'dense':>8}{'lexical':>8}" + "".join(f"{n:>12}" for n in names) + "   worst margin vs best half")
    halves = {}
    for dataset, data in sets:
        dense = score(dataset, data, lambda t, d, l, p: d)
        lexical = score(dataset, data, lambda t, d, l, p: l)
        row = {n: score(dataset, data, make) for n, make in variants().items()}
        best = halves[dataset.name] = max(dense, lexical)
        print(f"{dataset.name:<16}{dense:>8.4f}{lexical:>8.4f}" + "".join(f"{row[n]:>12.4f}" for n in names)
              + "   " + " ".join(f"{row[n] - best:+.3f}" for n in names))
    if args.grid:
        leave_one_out(sets, halves)


if __name__ == "__main__":
    main()
