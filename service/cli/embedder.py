"""`quarry train-embedder` and `quarry reindex`: fine-tune the embedder, and re-embed a collection with a new one."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from service.cli.common import add_training_arguments, runtime_from_args, settings_from_args


def cmd_train_embedder(args) -> int:
    from service.eval.embedder_training import train_from_args

    report = train_from_args(runtime_from_args(args), args)
    print(json.dumps(report) if args.json else report["text"])
    return 0


def cmd_reindex(args) -> int:
    from tqdm import tqdm

    from indexer.reindex import reindex
    from models.prefixes import known_prefixes
    from service.runtime import Runtime

    settings = settings_from_args(args, **({"embedder": args.embedder} if args.embedder else {}))
    runtime = Runtime(settings)
    old = runtime.catalog.manifest(args.collection)
    embedder = runtime.embedder.load()
    # prefixes: set by hand, else the new model's known ones, else the collection's (a fine-tuned copy keeps its base's)
    known = known_prefixes(settings.embedder)
    query = settings.query_prefix if settings.query_prefix is not None else known[0] if any(known) else old.query_prefix
    document = settings.document_prefix if settings.document_prefix is not None else known[1] if any(known) else old.document_prefix
    manifest = replace(old, embedder=settings.embedder, dimension=embedder.dimension, query_prefix=query, document_prefix=document)
    manifest.chunker_settings.validate(embedder.max_seq_length)
    documents = runtime.catalog.open(args.collection).counts()["documents"]
    with tqdm(total=documents, unit="doc", desc=f"reindexing {args.collection}", disable=args.no_progress or not sys.stderr.isatty()) as bar:
        collection = reindex(runtime.catalog, args.collection, manifest, runtime.indexer, bar.update)
    counts = collection.counts()
    runtime.close()
    print(f"{args.collection}: re-embedded {counts['documents']} documents ({counts['chunks']} chunks) with {settings.embedder} "
          f"(was {old.embedder}); search it with QUARRY_EMBEDDER={settings.embedder}")  # fmt: skip
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train-embedder", help="fine-tune the collection's embedder on labelled queries")
    add_training_arguments(
        p, "new directory for the trained embedder (loads as QUARRY_EMBEDDER)", negatives=1, epochs=3, learning_rate=5e-5, max_length=64,
        batch_help="queries per step: the other queries' passages are its in-batch negatives",
        length_help="tokens per text while training (the saved model keeps its own limit)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --output")
    p.add_argument("--folds", type=int, default=5, help="k-fold by query: every fold held out once, then train on all")
    p.add_argument("--estimate-only", action="store_true", help="report the held-out estimate and stop (no model saved)")
    p.add_argument("--eval-documents", type=int, default=0, metavar="N",
                   help="score on N documents (the judged ones and the current top hits) instead of the whole collection: "
                        "faster on a large one, a little kinder to the new model")
    p.add_argument("--train-layers", type=int, default=3, help="train only the top N transformer layers (0: all); cheaper, and steadier on few labels")
    p.set_defaults(func=cmd_train_embedder)

    p = subparsers.add_parser("reindex", help="re-embed a collection's stored documents with another embedder")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--embedder", help="the new embedder: a directory or model name (default: QUARRY_EMBEDDER)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_reindex)
