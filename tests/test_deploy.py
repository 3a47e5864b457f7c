"""The deployment files: docker-compose validates them, and the structure that matters is pinned here.

No Docker engine runs in CI, so nothing is built or started; `docker-compose config` parses, interpolates and
schema-checks the files without one, and the assertions below check what a schema cannot (shared volume,
health endpoint, offline models, layer order, defaults that match Settings).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BASE = "docker-compose.yml"
GPU = "docker-compose.gpu.yml"
INSTALL_HINT = (
    "docker-compose is not installed; the deployment tests need it to validate the compose files. "
    "Install it with `sudo apt-get update && sudo apt-get install -y docker-compose` (Debian/Ubuntu; "
    "`.ci/run` does this); it parses the files without a Docker engine."
)


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(INSTALL_HINT)
    return path


def run_compose(compose_bin: str, tmp_path: Path, files: list[str], *args: str) -> subprocess.CompletedProcess:
    """Run docker-compose on the repo's files with no outside variables, so the defaults are what is checked."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARRY_", "TORCH_", "HF_", "COMPOSE_"))}
    env.pop("TRANSFORMERS_OFFLINE", None)
    cmd = [compose_bin, "--env-file", str(env_file), "--project-directory", str(ROOT)]
    for name in files:
        cmd += ["-f", str(ROOT / name)]
    return subprocess.run(cmd + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


# --- docker-compose config ---------------------------------------------------------------------------------


@pytest.mark.parametrize("files", [[BASE], [BASE, GPU]], ids=["cpu", "gpu"])
@pytest.mark.parametrize("profile", [[], ["--profile", "jobs"]], ids=["default", "jobs"])
def test_compose_config_is_valid(compose_bin, tmp_path, files, profile):
    result = run_compose(compose_bin, tmp_path, files, *profile, "config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed for {files}:\n{result.stderr}"


def test_compose_config_rejects_a_broken_file(compose_bin, tmp_path):
    """Guards the check itself: a misspelt key must make `config -q` fail, or the tests above prove nothing."""
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / BASE).read_text().replace('restart: "no"', 'restartt: "no"'))
    result = subprocess.run(
        [compose_bin, "-f", str(broken), "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "restartt" in result.stderr


def test_gpu_override_merges_onto_both_services(compose_bin, tmp_path):
    result = run_compose(compose_bin, tmp_path, [BASE, GPU], "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("api", "indexer"):
        service = services[name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
        assert service["build"]["args"]["EXTRAS"] == "gpu,formats"
        assert service["environment"]["QUARRY_DATA_DIR"] == "/data"
        assert "quarry-data:/data:rw" in service["volumes"]
    assert services["indexer"]["restart"] == "no"
    assert services["indexer"]["profiles"] == ["jobs"]


# --- compose structure ---------------------------------------------------------------------------------------


def test_api_service():
    api = load(BASE)["services"]["api"]
    assert api["build"]["context"] == "."
    assert api["command"] == ["quarry", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert any("/health" in part for part in api["healthcheck"]["test"])
    assert api["ports"] == ["${QUARRY_PUBLISH:-127.0.0.1:8000}:8000"]  # loopback unless asked otherwise
    assert "quarry-data:/data" in api["volumes"]
    assert "profiles" not in api  # `docker-compose up` starts it


def test_indexer_is_a_one_shot_job_on_the_same_volume():
    compose = load(BASE)
    indexer, api = compose["services"]["indexer"], compose["services"]["api"]
    assert indexer["restart"] == "no"
    assert indexer["profiles"] == ["jobs"]  # `up` leaves it alone; `run --rm indexer` runs it
    assert indexer["image"] == api["image"]
    assert "quarry-data:/data" in indexer["volumes"]
    assert "${QUARRY_DOCS_DIR:-./docs}:/docs:ro" in indexer["volumes"]
    assert indexer["command"][:3] == ["quarry", "index", "/docs"]
    assert indexer["command"][3:] == ["--collection", "${QUARRY_COLLECTION:-docs}"]
    assert "quarry-data" in compose["volumes"]


def test_gpu_variant_reserves_nvidia_devices_and_installs_the_gpu_extra():
    gpu = load(GPU)
    assert "version" not in gpu
    for name in ("api", "indexer"):
        service = gpu["services"][name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
        assert service["build"]["args"]["EXTRAS"] == "gpu,formats"


def test_data_dir_is_the_same_everywhere():
    compose = load(BASE)
    dockerfile_env = dockerfile_values("ENV")
    assert dockerfile_env["QUARRY_DATA_DIR"] == "/data"
    for service in compose["services"].values():
        assert service["environment"]["QUARRY_DATA_DIR"] == "/data"
        assert "quarry-data:/data" in service["volumes"]


DEFAULT_RE = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")


def test_compose_defaults_match_settings():
    """A default changed in Settings must not be silently overridden by a stale one in the compose file."""
    environment = load(BASE)["services"]["api"]["environment"]
    checked = 0
    for key, value in environment.items():
        match = DEFAULT_RE.match(str(value))
        if not key.startswith("QUARRY_") or not match:
            continue
        assert match["name"] == key, f"{key} reads ${{{match['name']}}}"
        field = Settings.model_fields[key.removeprefix("QUARRY_").lower()]
        expected = str(field.default).lower() if isinstance(field.default, bool) else str(field.default)
        assert match["default"] == expected, f"{key}: compose default {match['default']!r}, Settings {expected!r}"
        checked += 1
    assert checked >= 10


# --- Dockerfile -------------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def dockerfile_values(keyword: str) -> dict[str, str]:
    values = {}
    for kw, rest in dockerfile_instructions():
        if kw == keyword:
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                values[name] = value
    return values


def index_of(predicate) -> int:
    for i, (kw, rest) in enumerate(dockerfile_instructions()):
        if predicate(kw, rest):
            return i
    raise AssertionError("no such instruction in the Dockerfile")


def test_dockerfile_runs_as_non_root():
    users = [rest for kw, rest in dockerfile_instructions() if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert users[-1] == "quarry"
    assert index_of(lambda kw, rest: kw == "USER") > index_of(lambda kw, rest: kw == "RUN" and "useradd" in rest)


def test_dockerfile_installs_torch_before_the_source():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    torch = index_of(lambda kw, rest: kw == "RUN" and "$TORCH_SPEC" in rest)
    deps = index_of(lambda kw, rest: kw == "RUN" and "requirements.txt" in rest)
    first_copy = index_of(lambda kw, rest: kw == "COPY")
    source = index_of(lambda kw, rest: kw == "COPY" and rest.split()[0] in ("models", "indexer", "service", "."))
    install = index_of(lambda kw, rest: kw == "RUN" and "pip install --no-deps ." in rest)
    assert torch < first_copy, "torch must be its own layer before anything from the repo is copied"
    assert instructions[first_copy] == ("COPY", "pyproject.toml ./")
    assert first_copy < deps < source < install


def test_dockerfile_torch_spec_matches_the_makefile_and_compose():
    makefile = (ROOT / "Makefile").read_text()
    make_spec = re.search(r"^TORCH_SPEC \?= (\S+)$", makefile, re.M)[1]
    assert dockerfile_values("ARG")["TORCH_SPEC"] == make_spec
    assert load(BASE)["x-quarry-build"]["args"]["TORCH_SPEC"] == f"${{TORCH_SPEC:-{make_spec}}}"


def test_dockerfile_resolves_models_offline_and_serves_health():
    env = dockerfile_values("ENV")
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    args = dockerfile_values("ARG")
    assert args["TORCH_INDEX_URL"] == "" and args["EXTRAS"] == "cpu,formats"  # never both faiss builds in one image
    instructions = dict(dockerfile_instructions())
    assert instructions["EXPOSE"] == "8000"
    assert "/health" in instructions["HEALTHCHECK"] and "urllib" in instructions["HEALTHCHECK"]
    assert instructions["CMD"] == '["quarry", "serve", "--host", "0.0.0.0", "--port", "8000"]'


def test_dockerignore_keeps_the_context_small():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", "**/__pycache__", ".pytest_cache"} <= ignored
