"""The `quarry` command: index folders, search collections, list them."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

from indexer.engines import ENGINES
from indexer.errors import QuarryError
from indexer.writers import MOST_WRITERS
from models import ModelLoadError
from service.cli import backup, check, delete, mcp, optimize, serve
from service.cli import embedder as embedder_commands
from service.cli import eval as eval_commands
from service.cli.common import runtime_from_args, settings_from_args
from service.search.fusion import profile_for
from service.search.options import MODES, InvalidQuery
from service.settings import SettingsError

log = logging.getLogger("quarry")


def _quiet_libraries() -> None:
    """Through the environment, read when (and only if) a command imports them: importing transformers here
    to silence it would cost a search that needs no model (lexical, or one QUARRY_URL answers) a second or more."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar follows it


def _print_warning(message: str) -> None:
    """As it happens, above the progress bar rather than through it."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


def cmd_index(args) -> int:
    runtime = runtime_from_args(args)
    for raw in args.paths:  # fail before loading any model or touching the collection
        if not os.path.exists(raw):
            raise FileNotFoundError(f"path not found: {raw}")
    if args.writers is not None and not 1 <= args.writers <= MOST_WRITERS:  # 0 or -1 must not mean "the default"
        raise ValueError(f"--writers must be between 1 and {MOST_WRITERS} (got {args.writers})")
    if args.ray_address and args.engine != "ray":
        raise ValueError("--ray-address needs --engine ray")
    if args.engine == "ray":
        from indexer.engines.ray_setup import check_reachable, import_ray

        import_ray(runtime.settings.ray_node_ip)  # a missing package, or nothing at the address: one line,
        if args.ray_address or runtime.settings.ray_address:  # before any model loads or collection is made
            check_reachable(args.ray_address or runtime.settings.ray_address)
    collection = runtime.open_or_create(args.collection)
    from indexer.pipeline import FileLimits

    limits = runtime.file_limits
    limits = FileLimits(
        limits.max_file_bytes if args.max_file_bytes is None else args.max_file_bytes or None,
        limits.max_document_chars if args.max_document_chars is None else args.max_document_chars or None,
        "QUARRY_MAX_FILE_BYTES, or --max-file-bytes", "QUARRY_MAX_DOCUMENT_CHARS, or --max-document-chars",
    )
    if args.engine == "ray":
        from indexer.engines.ray_engine import RayIndexJob

        options = runtime.ray_options(args.ray_address)
        options.verbose = args.verbose  # -v: Ray's own logs and its workers' output too
        indexer = RayIndexJob(collection, runtime.embedder.spec(), options, limits)
    else:
        indexer = runtime.indexer(collection, args.writers)
        indexer.limits = limits
        if args.batch_documents:
            indexer.batch_documents = args.batch_documents
    printed: list[str] = []
    report = indexer.index_paths(
        args.paths, prune=args.prune, progress=False if args.no_progress else None, rehash=args.rehash,
        on_warning=lambda message: (printed.append(message), _print_warning(message)),
    )  # fmt: skip
    profile = profile_for(collection, runtime.fusion)
    warnings = report.warnings + ([profile.warning] if profile.warning else [])
    for warning in warnings[len(printed):]:  # the end-of-run summary of ignored types; can dense retrieval read this
        _print_warning(warning)
    counts = collection.counts()
    languages = collection.languages()
    runtime.close()
    if args.json:
        out = {k: v for k, v in vars(report).items() if k != "warnings"}
        print(json.dumps({**out, "warnings": warnings, "collection": args.collection, "languages": languages,
                          **{f"total_{k}": v for k, v in counts.items()}}))  # fmt: skip
    else:
        print(f"{args.collection}: {report.summary()}")
        print(f"{args.collection}: now {counts['documents']} documents, {counts['chunks']} chunks"
              + (f"; languages {', '.join(f'{k} {v:.0%}' for k, v in languages.items())}" if languages else ""))
    if report.loaded == 0 and report.unchanged == 0:
        print(f"error: nothing indexable found in {', '.join(args.paths)}", file=sys.stderr)
        return 1
    return 0


def cmd_search(args) -> int:
    settings = settings_from_args(args)
    if settings.url:  # a running server has the models loaded: ask it rather than load them here
        return _search_remote(args, settings)
    from service.runtime import Runtime

    runtime = Runtime(settings)
    collection = runtime.open_collection(args.collection)
    options = dict(top_k=args.top_k or None, mode=args.mode, candidates=args.candidates or None)
    runtime.searcher(rerank=False).check(args.query, **options)  # limits and options, before any model loads
    want_rerank = not args.no_rerank
    if (args.mode or settings.search_mode) != "lexical":
        runtime.embedder.load()  # start-up, not search time: the printed milliseconds are the search's own
    result = runtime.searcher(rerank=want_rerank).search(collection, args.query, rerank=want_rerank, **options)
    _print_result(result, result.to_dict(), args.json)
    return 0


def _search_remote(args, settings) -> int:
    import httpx

    from quarry.client import Quarry, QuarryAPIError

    key = settings.api_key.get_secret_value() if settings.api_key else None
    with Quarry(settings.url, key) as client:
        try:
            result = client.search(
                args.collection, args.query, top_k=args.top_k or None, mode=args.mode, rerank=not args.no_rerank,
                candidates=args.candidates or None,
            )  # fmt: skip
        except QuarryAPIError as exc:
            raise RemoteError(f"{settings.url}: {exc.message}") from None
        except httpx.HTTPError as exc:  # refused, timed out, not HTTP
            raise RemoteError(f"cannot reach QUARRY_URL {settings.url}: {exc}") from None
    _print_result(result, dataclasses.asdict(result), args.json)
    return 0


def _print_result(result, as_dict: dict, as_json: bool) -> None:
    """One format for a local and a remote search: the same hits read the same."""
    if as_json:
        print(json.dumps(as_dict, ensure_ascii=False))
        return
    if not result.hits:
        print("no results")
    for rank, hit in enumerate(result.hits, start=1):
        heading = " > ".join(hit.heading_path)
        print(f"{rank:>2}. [{hit.score:.4f}] {hit.title or hit.doc_id}  ({hit.doc_id}{' # ' + heading if heading else ''})")
        snippet = " ".join(hit.text.split())
        print(f"    {snippet[:240]}{'...' if len(snippet) > 240 else ''}")
    print(f"({result.mode}, {'reranked' if result.reranked else 'not reranked'}, {result.timings_ms['total']:.0f} ms)")


class RemoteError(RuntimeError):
    """A search QUARRY_URL's server refused or could not be asked: one `error:` line, like a local failure."""


def cmd_collections(args) -> int:
    runtime = runtime_from_args(args)
    rows = []
    for name in runtime.catalog.names():
        manifest = runtime.catalog.manifest(name)
        collection = runtime.catalog.open(name)
        rows.append({"name": name, "embedder": manifest.embedder, **collection.counts()})
    runtime.close()
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print(f"no collections in {runtime.settings.data_dir}")
    for row in [] if args.json else rows:
        print(f"{row['name']}\t{row['documents']} documents\t{row['chunks']} chunks\t{row['embedder']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quarry", description="Self-hosted hybrid document search.")
    parser.add_argument("--data-dir", help="where collections live (default: QUARRY_DATA_DIR)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index files and folders into a collection")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--prune", action="store_true", help="remove documents whose files are gone from these folders")
    p.add_argument(
        "--rehash", action="store_true",
        help="read every file and compare content hashes, even when its size and modification time are unchanged",
    )  # fmt: skip
    p.add_argument("--batch-documents", type=int, default=0, help="documents per transaction (default: 64 on CPU, 512 on a GPU)")
    p.add_argument("--max-file-bytes", type=int, metavar="N",
                   help="skip (with a warning) files over N bytes (default: QUARRY_MAX_FILE_BYTES, 100,000,000; 0: no limit)")
    p.add_argument("--max-document-chars", type=int, metavar="N",
                   help="skip (with a warning) documents over N characters (default: QUARRY_MAX_DOCUMENT_CHARS, 2,000,000; 0: no limit)")
    p.add_argument("--writers", type=int, metavar="N", help="segments written at once (default: QUARRY_INDEX_WRITERS, "
                   "else min(4, cores / 2); 1 to 64); 1 writes into the base database as before")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: this process; ray: a Ray cluster (pip install -e \".[ray]\"; docs/performance.md)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: join the Ray cluster at host:port (default: QUARRY_RAY_ADDRESS, else a local Ray)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a collection")
    p.add_argument("query")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--top-k", "-k", type=int, default=0)
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--candidates", type=int, default=0, help="hits per retriever before fusion and reranking")
    p.add_argument("--no-rerank", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("collections", help="list collections with their counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_collections)
    for command in (serve, check, delete, optimize, backup, mcp, eval_commands, embedder_commands):
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    _quiet_libraries()
    try:
        return args.func(args)
    except (QuarryError, ModelLoadError, SettingsError, InvalidQuery, FileNotFoundError, ValueError, RemoteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: committed batches are kept; run the same command again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
