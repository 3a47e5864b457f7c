"""What every `quarry` subcommand builds from its arguments: the settings, and a Runtime over them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.settings import Settings, load_settings

if TYPE_CHECKING:
    from indexer.catalog import Catalog
    from service.runtime import Runtime


def settings_from_args(args, **overrides) -> Settings:
    """QUARRY_* settings, with --data-dir (a top-level option) and the command's own overrides on top."""
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


def catalog_from_args(args) -> Catalog:
    """The collections alone, for commands that load no model (delete, optimize, snapshot, restore)."""
    from indexer.catalog import Catalog

    settings = settings_from_args(args)
    return Catalog(settings.data_dir, lock_timeout=settings.write_lock_timeout)


def runtime_from_args(args) -> Runtime:
    from service.runtime import Runtime  # imported when a command needs it: `quarry --help` stays fast

    return Runtime(settings_from_args(args))


def add_training_arguments(
    p, output_help: str, negatives: int, epochs: int, learning_rate: float = 2e-5, max_length: int = 128,
    batch_help: str = "", length_help: str = "",
) -> None:
    """The options `train-reranker` and `train-embedder` share: where the labels come from, and the training loop."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="DATASET_DIR", help="BEIR folder (as `quarry eval` takes): its qrels are the labels")
    source.add_argument("--pairs", metavar="FILE.jsonl", help='JSONL lines {"query", "positive(s)", "negative(s)"?}')
    p.add_argument("--collection", "-c", help="collection whose retriever mines hard negatives for --pairs")
    p.add_argument("--output", "-o", required=True, help=output_help)
    p.add_argument("--split", default="test", help="qrels split with --dataset")
    p.add_argument("--negatives", type=int, default=negatives, help="hard negatives per positive, mined with the retriever")
    p.add_argument("--max-positives", type=int, default=8, help="positives per query (highest grades first)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=16, help=batch_help or None)
    p.add_argument("--learning-rate", type=float, default=learning_rate)
    p.add_argument("--max-length", type=int, default=max_length, help=length_help or None)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--json", action="store_true")
