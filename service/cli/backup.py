"""`quarry snapshot --collection NAME OUT` and `quarry restore OUT [--collection NEW_NAME]`.

Load no model: a snapshot copies SQLite (consistently, beside a running server or indexing job) and the
manifest, with a checksum for each; restore verifies the checksums, lays the copy out in the data dir and
rebuilds the vector index from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from service.cli.common import catalog_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("snapshot", help="copy a collection into a new snapshot directory (safe while it is written)")
    p.add_argument("out", metavar="OUT", help="the snapshot directory to create (must not exist, or be empty)")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--json", action="store_true", help="print what the snapshot holds as JSON")
    p.set_defaults(func=cmd_snapshot)

    p = subparsers.add_parser("restore", help="restore a snapshot directory as a collection of this data dir")
    p.add_argument("snapshot", metavar="OUT", help="a directory made by `quarry snapshot`")
    p.add_argument("--collection", "-c", help="the new collection's name (default: the snapshot's own)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_restore)


def cmd_snapshot(args) -> int:
    info = catalog_from_args(args).snapshot(args.collection, Path(args.out))
    if args.json:
        print(json.dumps({"snapshot": str(args.out), **vars(info)}))
    else:
        print(f"{args.collection}: snapshot in {args.out}: {info.documents} documents, {info.chunks} chunks,"
              f" generation {info.generation}; restore with `quarry restore {args.out}`")  # fmt: skip
    return 0


def cmd_restore(args) -> int:
    catalog = catalog_from_args(args)
    collection = catalog.restore(Path(args.snapshot), args.collection)
    counts = collection.counts()
    catalog.close()
    if args.json:
        print(json.dumps({"collection": collection.name, **counts}))
    else:
        print(f"{collection.name}: restored from {args.snapshot}: {counts['documents']} documents, {counts['chunks']} chunks")
    return 0
