"""`quarry check [--collection NAME] [--repair]`: is a collection consistent, and fix what can be fixed.

Loads no model: the check reads the collection's files only. Exit 0 when healthy (warnings allowed:
they heal on the next open), 1 with one line per problem.
"""

from __future__ import annotations

from indexer.catalog import Catalog
from indexer.errors import CollectionNotFound
from indexer.integrity import CheckReport, check_collection, repair_collection
from service.cli.common import settings_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="verify that a collection's manifest, SQLite, FTS and FAISS agree")
    p.add_argument("--collection", "-c", help="the collection to check (default: every collection)")
    p.add_argument("--repair", action="store_true", help="fix what can be fixed, then check again")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    settings = settings_from_args(args)
    catalog = Catalog(settings.data_dir, lock_timeout=settings.write_lock_timeout)
    if args.collection:
        directory = catalog.path(args.collection)  # validates the name
        if not directory.is_dir():
            raise CollectionNotFound(f"collection {args.collection!r} not found in {settings.data_dir}")
        names = [args.collection]
    else:
        names = catalog.names()
        if not names:
            print(f"no collections in {settings.data_dir}")
            return 0
    healthy = True
    for name in names:
        directory = catalog.path(name)
        if args.repair:
            for action in repair_collection(directory, settings.write_lock_timeout):
                print(f"{name}: repaired: {action}")
        healthy &= _print_report(name, check_collection(directory))
    return 0 if healthy else 1


def _print_report(name: str, report: CheckReport) -> bool:
    for finding in report.findings:
        print(f"{name}: {finding}")
    counts = f"{report.documents} documents, {report.chunks} chunks, generation {report.generation}"
    if report.healthy:
        suffix = f", {len(report.warnings)} warning(s)" if report.warnings else ""
        print(f"{name}: ok ({counts}{suffix})")
        return True
    print(f"{name}: {len(report.problems)} problem(s) ({counts}); run `quarry check --repair -c {name}` to fix what can be fixed")
    return False
