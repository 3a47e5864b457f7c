"""Starting or joining Ray for an indexing job, with the guards a shared machine needs.

- Ray is imported here and only here, lazily: without it installed, one error line names the pip command.
- Usage statistics are off before the import (RAY_USAGE_STATS_ENABLED=0): nothing phones home.
- Loopback stays loopback: Ray turns a node IP of 127.0.0.1 into the host's interface address (and then
  listens on every interface) unless its "no multi-machine cluster" switch is set before the import, so a
  loopback node_ip sets it; every Ray process then binds 127.0.0.1 only.
- No address: a new local Ray (`address="local"`), never a stale cluster found on the machine by accident.
  An address: the cluster there is joined, after a plain TCP check so a dead address fails in seconds with
  one line instead of Ray's long retry loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass

from indexer.errors import QuarryError

log = logging.getLogger(__name__)

INSTALL = 'pip install -e ".[ray]"'
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class RayUnavailable(QuarryError):
    """Ray is not installed, or the cluster cannot be started or reached."""


class RayStalled(QuarryError):
    """The pipeline produced nothing for too long (a stage waiting for resources no node has left)."""


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local Ray for this job; else join the cluster there
    node_ip: str = "127.0.0.1"  # the address this process (and a local Ray) uses
    num_cpus: int | None = None  # CPUs of a local Ray (None: all of this machine's)
    embed_actors: int | None = None  # most embedding actors (None: one per GPU, else one per CPU but one)
    embed_cpus: int = 1  # CPUs (and torch threads) per CPU embedding actor
    stall_timeout_s: float = 900.0  # fail when no block comes out for this long
    object_store_mb: int | None = None  # object store of a local Ray (None: Ray's default)
    segment_documents: int = 1000  # documents per segment written by a worker
    verbose: bool = False  # Ray's and Ray Data's own progress logs


def import_ray(node_ip: str = "127.0.0.1"):
    """The ray module, with usage statistics off and loopback kept; RayUnavailable when it is not installed."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if node_ip in LOOPBACK:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read at import: keeps node IPs on 127.0.0.1
    try:
        import ray
        import ray.data  # noqa: F401  (the extra installs ray[data]: a bare `ray` lacks it)
    except ImportError as exc:
        raise RayUnavailable(f"the ray engine needs Ray Data, which is not installed ({exc.name or exc}): {INSTALL}") from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when nothing answers at a cluster address (host:port or ray://host:port)."""
    if address == "auto":  # Ray's own lookup (RAY_ADDRESS or the cluster this machine started): asked for by name
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailable(f"Ray address {address!r} is not host:port (the head node's GCS port, 6379 by default)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnavailable(
            f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start one with "
            f"`ray start --head --node-ip-address 127.0.0.1 --port {port}`, or leave out --ray-address to run a local Ray"
        ) from None


def _quiet(verbose: bool) -> None:
    if verbose:
        return
    for name in ("ray", "ray.data"):  # Ray Data's start-up notes ("progress bars disabled", plans, log paths)
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def ray_session(options: RayOptions):
    """Ray, connected for one job and disconnected after it (a local Ray is stopped with it).

    A session this process already holds (a test's cluster, a notebook) is used as it is and left running.
    """
    ray = import_ray(options.node_ip)
    _quiet(options.verbose)
    if ray.is_initialized():
        yield ray
        return
    common = dict(_node_ip_address=options.node_ip, logging_level=logging.INFO if options.verbose else logging.ERROR,
                  log_to_driver=options.verbose, include_dashboard=False)  # fmt: skip
    if options.address:
        check_reachable(options.address)
        kwargs = dict(address=options.address, **common)
        kwargs.pop("include_dashboard")  # a joining driver starts no dashboard anyway
    else:
        store = options.object_store_mb * 2**20 if options.object_store_mb else None
        kwargs = dict(address="local", num_cpus=options.num_cpus, object_store_memory=store, **common)
    try:
        ray.init(**kwargs)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError... for a cluster it cannot use
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailable(f"cannot start or join {where}: {first}") from exc
    try:
        ray.data.DataContext.get_current().enable_progress_bars = options.verbose
        yield ray
    finally:
        ray.shutdown()
