"""`quarry delete -c NAME TARGET...`: remove documents by id or by the file or folder they came from.

Loads no model. A target is first read as a document id (a mailbox's id also removes its messages,
id#1, id#2, ...); otherwise as a path, matched against the real path each document was indexed from,
so it works for files that are gone as well.
"""

from __future__ import annotations

import sys

from indexer.sources import delete_targets
from service.cli.common import catalog_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("delete", help="remove documents by id, or by the file or folder they came from")
    p.add_argument("targets", nargs="+", metavar="ID_OR_PATH")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.set_defaults(func=cmd_delete)


def cmd_delete(args) -> int:
    catalog = catalog_from_args(args)
    try:
        collection = catalog.open(args.collection)
        found, missing = delete_targets(collection, args.targets, dry_run=args.dry_run)
    finally:
        catalog.close()
    for target in missing:
        print(f"warning: no document with id or source {target!r}", file=sys.stderr)
    verb = "would remove" if args.dry_run else "removed"
    for doc_id in found:
        print(f"{verb} {doc_id}")
    print(f"{args.collection}: {verb} {len(found)} document(s)")
    return 1 if missing and not found else 0
