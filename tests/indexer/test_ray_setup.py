"""The ray engine's guards that need no cluster: a missing `ray` package and a dead address are one error line
each, and nothing imports Ray unless a job asks for it. Runs in the default suite, with or without Ray installed."""

from __future__ import annotations

import socket
import sys

import pytest

from indexer.engines.ray_setup import RayUnavailable, check_reachable
from service.settings import SettingsError, load_settings
from tests.cli_runner import run


@pytest.fixture
def no_ray(monkeypatch):
    """Every `import ray...` fails, as on a machine without the extra."""
    for name in ("ray", "ray.data", "ray.cluster_utils"):
        monkeypatch.setitem(sys.modules, name, None)


def test_index_with_the_ray_engine_but_no_ray_is_one_error_line(tmp_path, settings_env, capsys, no_ray):
    (tmp_path / "a.txt").write_text("the bread and the flour")
    code, out, err = run(capsys, "index", str(tmp_path / "a.txt"), "-c", "kb", "--engine", "ray", "--no-progress")
    assert code == 1
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: the ray engine needs Ray Data") and 'pip install -e ".[ray]"' in err
    assert not (settings_env / "kb").exists()  # failed before a collection was made


def test_job_engine_ray_without_ray_fails_at_start_up(settings_env, monkeypatch, no_ray):
    monkeypatch.setenv("QUARRY_JOB_ENGINE", "ray")
    with pytest.raises(SettingsError, match=r'QUARRY_JOB_ENGINE=ray needs Ray Data.*pip install -e "\.\[ray\]"'):
        load_settings()


def test_local_engine_never_imports_ray(tmp_path, settings_env, capsys, no_ray):
    (tmp_path / "a.txt").write_text("the bread and the flour")
    assert run(capsys, "index", str(tmp_path / "a.txt"), "-c", "kb", "--no-progress")[0] == 0


def test_ray_address_needs_the_ray_engine(tmp_path, settings_env, capsys):
    (tmp_path / "a.txt").write_text("the bread")
    code, _, err = run(capsys, "index", str(tmp_path / "a.txt"), "-c", "kb", "--ray-address", "127.0.0.1:6379")
    assert code == 1 and err.strip() == "error: --ray-address needs --engine ray"


def test_a_dead_address_fails_fast_in_one_line():
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RayUnavailable, match=rf"cannot reach a Ray cluster at 127.0.0.1:{port} .*ray start --head"):
        check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(RayUnavailable, match="is not host:port"):
        check_reachable("somewhere")
