# The README's commands live here. `make run` installs and answers a sample search; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch on CPU machines; a plain `torch` requirement would pull several GB of CUDA packages.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS ?= cpu,dev
SAMPLE_QUERY ?= how do I fix a punctured bike tyre

.PHONY: install install-gpu system-deps run test test-all test-ray bench bench-speed clean docs docs-check

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $@

# CUDA machines: the CUDA build of torch plus faiss-gpu and onnxruntime-gpu.
install-gpu:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev,gpu]"
	touch $(VENV)/.installed

run: install
	$(BIN)/quarry index samples/corpus --collection sample
	$(BIN)/quarry search "$(SAMPLE_QUERY)" --collection sample --top-k 3

# Debian packages the tests need (docker-compose, chromium); installs only what is missing. .ci/run uses it too.
system-deps:
	.ci/system-deps

test: install system-deps
	$(BIN)/python -m pytest

# Everything, slow and Ray tests included (GPU tests still need -m gpu on a CUDA machine).
test-all: install system-deps
	$(BIN)/pip install -q -e ".[ray]"
	$(BIN)/python -m pytest -m "not gpu"

# The Ray engine's tests (a 2-node local Ray cluster on 127.0.0.1, about 2 minutes): the ray extra on top.
test-ray: install
	$(BIN)/pip install -q -e ".[ray]"
	$(BIN)/python -m pytest -m ray

# docs/configuration.md is generated from the Settings field descriptions (service/settings.py).
docs: install
	$(BIN)/python -m service.settings_doc

docs-check: install
	$(BIN)/python -m service.settings_doc --check

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The HTTP API on 127.0.0.1:8000 (QUARRY_HOST / QUARRY_PORT to change); docs at /docs.
.PHONY: serve
serve: install
	$(BIN)/quarry serve

# docs/security.md: the larger fuzz run (valid and invalid input) and a bounded load test on 127.0.0.1.
.PHONY: fuzz load
fuzz: install
	$(BIN)/python -m benchmarks.fuzz --max-examples 100 --negative

load: install
	$(BIN)/python -m benchmarks.load --threads 4 --requests 2000 --seconds 60

# Speed benchmarks (each prints one table; bench_indexing runs 200,000 passages on CUDA, 1,000 on CPU).
bench-speed: install
	$(BIN)/python -m benchmarks.bench_indexing
	$(BIN)/python -m benchmarks.bench_query --backend onnx-int8
	$(BIN)/python -m benchmarks.bench_backends --quality-queries 10 --distractors 300
	$(BIN)/python -m benchmarks.bench_ann

# Retrieval quality on ../shared/datasets/msmarco-subset (builds the collection once under QUARRY_DATA_DIR).
bench: install
	$(BIN)/python -m benchmarks.quality
