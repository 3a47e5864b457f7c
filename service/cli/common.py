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
