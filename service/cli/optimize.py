"""`quarry optimize -c NAME`: fold a collection's segments into one database, dropping dead rows.

Loads no model. Searches keep running meanwhile (they read the last commit); writers wait for the
writer lock between groups of segments. Useful after a large `--writers N` run or a Ray job.
"""

from __future__ import annotations

from indexer.merge import optimize
from service.cli.common import catalog_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("optimize", help="merge a collection's segments into one (no re-embedding)")
    p.add_argument("--collection", "-c", required=True)
    p.set_defaults(func=cmd_optimize)


def cmd_optimize(args) -> int:
    catalog = catalog_from_args(args)
    try:
        collection = catalog.open(args.collection)
        folded = optimize(collection)
        counts = collection.counts()
        collection.save_index()
    finally:
        catalog.close()
    print(f"{args.collection}: folded {folded} segment(s) into one; {counts['documents']} documents, {counts['chunks']} chunks")
    return 0
