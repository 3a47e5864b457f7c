# The README's commands live here. `make run` installs and answers a sample search; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch on CPU machines; a plain `torch` requirement would pull several GB of CUDA packages.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS ?= dev,onnx
SAMPLE_QUERY ?= how do I fix a punctured bike tyre

.PHONY: install install-gpu run test test-all bench clean

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

test: install
	$(BIN)/python -m pytest

# Everything, slow tests included (GPU tests still need -m gpu on a CUDA machine).
test-all: install
	$(BIN)/python -m pytest -m "not gpu"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Retrieval quality on ../shared/datasets/msmarco-subset (builds the collection once under QUARRY_DATA_DIR).
bench: install
	$(BIN)/python -m benchmarks.quality
