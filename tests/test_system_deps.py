"""`make test` on a fresh machine installs the Debian packages the tests need, the same way CI does."""

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_make_test_runs_the_system_deps_step_that_ci_shares():
    make = shutil.which("make")
    assert make is not None, "make is not installed: sudo apt-get install -y make"
    planned = subprocess.run([make, "-n", "test", "VENV=.venv-dry-run"], cwd=REPO, capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr
    steps = planned.stdout.splitlines()
    assert ".ci/system-deps" in steps and steps.index(".ci/system-deps") < next(
        i for i, s in enumerate(steps) if "-m pytest" in s
    )
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "apt-get" not in ci  # one list of packages, in .ci/system-deps


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _stub_machine(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A root shell whose PATH holds only stubs; apt-get writes its arguments to the log. (bin, log, env)"""
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    bin_dir.mkdir()
    _stub(bin_dir, "id", "echo 0")
    _stub(bin_dir, "apt-get", f'echo "$@" >> {log}')
    _stub(bin_dir, "env", 'while [ $# -gt 0 ] && [ "${1#*=}" != "$1" ]; do shift; done; exec "$@"')
    return bin_dir, log, {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def test_system_deps_installs_only_what_is_missing(tmp_path):
    """A machine with neither chromium nor docker-compose (a PATH of stubs): both are asked of apt-get."""
    bin_dir, log, env = _stub_machine(tmp_path)
    bash = shutil.which("bash")
    result = subprocess.run([bash, str(REPO / ".ci" / "system-deps")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "update -qq" and calls[1].split()[-2:] == ["docker-compose", "chromium"], calls

    _stub(bin_dir, "chromium", "exit 0")  # present now: only docker-compose is missing
    log.unlink()
    subprocess.run([bash, str(REPO / ".ci" / "system-deps")], env=env, check=True, capture_output=True)
    assert log.read_text().splitlines()[1].split()[-1] == "docker-compose"
    assert os.access(REPO / ".ci" / "system-deps", os.X_OK)


def test_system_deps_installs_tesseract_for_the_ocr_tests(tmp_path):
    bin_dir, log, env = _stub_machine(tmp_path)
    for present in ("chromium", "docker-compose"):
        _stub(bin_dir, present, "exit 0")
    subprocess.run([shutil.which("bash"), str(REPO / ".ci" / "system-deps")], env=env, check=True, capture_output=True)
    assert log.read_text().splitlines()[1].split()[-1] == "tesseract-ocr"
