"""`quarry search` start-up: with QUARRY_URL it asks a running server (no model loaded here) and prints what a
local search prints; a local lexical search loads no model either."""

from __future__ import annotations

import json
import sys

import pytest

from quarry.client import Quarry
from service.settings import Settings
from tests.service.live_server import _free_port, live_server
from tests.tiny_models import TEST_SETTINGS

KEY = "cli-remote-key-0123456789"


@pytest.fixture(scope="module")
def url(tmp_path_factory, tiny_embedder_path):
    data = tmp_path_factory.mktemp("cli-remote") / "data"
    settings = Settings(**{**TEST_SETTINGS, "data_dir": data, "embedder": tiny_embedder_path}, api_keys=[{"key": KEY, "scope": "admin"}])
    with live_server(settings) as base:
        with Quarry(base, KEY) as q:
            q.create_collection("kb")
            q.upsert("kb", [{"doc_id": "bike", "text": "To fix a flat tire, patch the inner tube.", "title": "Bike"},
                            {"doc_id": "bread", "text": "Sourdough needs a starter."}])  # fmt: skip
        yield base


def run(*argv: str) -> int:
    from service.cli.main import main

    return main(list(argv))


def test_search_asks_the_server(url, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("QUARRY_URL", url)
    monkeypatch.setenv("QUARRY_API_KEY", KEY)
    monkeypatch.setenv("QUARRY_DATA_DIR", str(tmp_path / "absent"))  # nothing local is opened (or created)
    assert run("search", "flat tire", "-c", "kb", "-k", "1", "--mode", "lexical") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(" 1. [") and "Bike  (bike)" in out[0] and out[-1].startswith("(lexical, not reranked, ")
    assert run("search", "sourdough", "-c", "kb", "--mode", "lexical", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hits"][0]["doc_id"] == "bread" and data["mode"] == "lexical" and "timings_ms" in data
    assert not (tmp_path / "absent").exists()


def test_remote_errors_are_one_line(url, monkeypatch, capsys):
    monkeypatch.setenv("QUARRY_URL", url)
    monkeypatch.setenv("QUARRY_API_KEY", "wrong-key-0123456789")
    assert run("search", "tire", "-c", "kb") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: " + url) and "\n" not in err
    monkeypatch.setenv("QUARRY_API_KEY", KEY)
    assert run("search", "tire", "-c", "nope") == 1
    assert "nope" in capsys.readouterr().err
    monkeypatch.setenv("QUARRY_URL", f"http://127.0.0.1:{_free_port()}")  # nobody listens there
    assert run("search", "tire", "-c", "kb") == 1
    assert capsys.readouterr().err.startswith("error: cannot reach QUARRY_URL http://127.0.0.1:")


def test_remote_search_imports_no_model_code(url, monkeypatch):
    """In a fresh interpreter (this one hosts the test server and its models)."""
    import subprocess

    monkeypatch.setenv("QUARRY_URL", url)
    monkeypatch.setenv("QUARRY_API_KEY", KEY)
    heavy = ("torch", "sentence_transformers", "faiss")
    code = (f"import sys; from service.cli.main import main; rc = main(['search', 'tire', '-c', 'kb', '--mode', 'lexical']);"
            f" print(rc, sorted(m for m in {heavy!r} if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"


def test_a_lexical_search_loads_no_model(settings_env, tmp_path, capsys):
    """BM25 needs no neural model: a lexical `quarry search` imports neither torch nor transformers (seconds each)."""
    import os
    import subprocess

    from tests.cli_runner import run as run_cli
    from tests.corpus_factory import write_mixed_corpus

    assert run_cli(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "kb", "--no-progress")[0] == 0
    heavy = ("torch", "transformers", "sentence_transformers")
    code = (f"import sys; from service.cli.main import main; rc = main(['search', 'sourdough', '-c', 'kb', '--mode', 'lexical']);"
            f" print(rc, sorted(m for m in {heavy!r} if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert "bread" in out.stdout and out.stdout.strip().splitlines()[-1] == "0 []"
