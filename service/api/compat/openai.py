"""OpenAI wire formats over quarry's models and collections: embeddings and vector-store search.

Plain functions over the API state, so routes stay thin and tests can call them directly.
"""

from __future__ import annotations

import base64
import posixpath
from typing import Any

import numpy as np

from service.api.errors import ApiError
from indexer.filters import COMBINATORS, OPERATORS, InvalidFilter
from service.search.options import SearchCancelled

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's own limit per request
# One input past this is refused (400) before any tokenizing: the model reads only its first
# max_seq_length tokens, and tokenizing a 5 MB input took 14 s. QUARRY_MAX_DOCUMENT_CHARS is for documents.
MAX_EMBEDDING_INPUT_CHARS = 100_000


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, code, message, param=param)


# embeddings ------------------------------------------------------------------------------------------
def embedding_inputs(raw: Any) -> list[str]:
    """`input` as OpenAI takes it (a string or a list of strings) -> texts, or a 400 naming the problem."""
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts:
        raise bad_request("'input' must be a non-empty string or a non-empty array of strings", "input")
    if all(isinstance(t, int) for t in texts) or all(isinstance(t, list) for t in texts):
        raise bad_request(
            "token-id input is not supported: quarry's embedder has its own tokenizer, so send text"
            " (LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False))",
            "input",
        )
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise bad_request(f"'input' has {len(texts)} items; at most {MAX_EMBEDDING_INPUTS} per request", "input")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise bad_request(f"'input[{i}]' must be a string", "input")
        if not text.strip():
            raise bad_request(f"'input[{i}]' is empty: every input needs some text to embed", "input")
        if len(text) > MAX_EMBEDDING_INPUT_CHARS:
            raise bad_request(
                f"'input[{i}]' has {len(text)} characters; at most {MAX_EMBEDDING_INPUT_CHARS} per input"
                " (the embedder reads only its first few hundred tokens): split or shorten it",
                "input",
            )
    return texts


def create_embeddings(state, raw_input: Any, model: str, encoding_format: str, dimensions: int | None) -> dict:
    embedder = state.embedder
    texts = embedding_inputs(raw_input)
    if dimensions is not None and dimensions != embedder.dimension:
        raise bad_request(
            f"'dimensions' is {dimensions}, but the embedder {state.settings.embedder} makes"
            f" {embedder.dimension}-dimensional vectors and cannot shorten them: omit 'dimensions'",
            "dimensions",
        )
    vectors = embedder.encode(texts)
    tokens = _count_tokens(embedder, texts)
    data = []
    for i, vector in enumerate(vectors):
        value: Any = _base64(vector) if encoding_format == "base64" else [float(x) for x in vector]
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": state.settings.embedder,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _base64(vector: np.ndarray) -> str:
    """OpenAI's base64 encoding: the little-endian float32 bytes of the vector."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _count_tokens(embedder, texts: list[str]) -> int:
    """Tokens the model actually read (inputs past its window are truncated, as sentence-transformers does).
    Counted with a tokenizer of this thread's own, never under the shared model lock."""
    counter = getattr(embedder, "count_tokens", None)
    if counter is not None:
        return counter(texts)
    encoded = embedder.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=embedder.max_seq_length)
    return int(sum(len(ids) for ids in encoded["input_ids"]))


def list_models(state) -> dict:
    models = [state.settings.embedder]
    if state.reranker is not None:
        models.append(state.settings.reranker)
    return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "quarry"} for m in models]}


def from_openai_filter(spec: Any, where: str = "filters") -> dict:
    """OpenAI's filter shape -> ours. Comparison: {"type": "eq", "key": "lang", "value": "en"};
    compound: {"type": "and"|"or", "filters": [...]}. Raises InvalidFilter."""
    if not isinstance(spec, dict):
        raise InvalidFilter(f"{where}: expected an object with a 'type'")
    kind = spec.get("type")
    if kind in COMBINATORS:
        children = spec.get("filters")
        if not isinstance(children, list) or not children:
            raise InvalidFilter(f"{where}.filters: a compound filter needs a non-empty list of filters")
        return {kind: [from_openai_filter(child, f"{where}.filters[{i}]") for i, child in enumerate(children)]}
    if kind in OPERATORS:
        if not isinstance(spec.get("key"), str) or "value" not in spec:
            raise InvalidFilter(f"{where}: a comparison filter needs 'key' (a string) and 'value'")
        return {spec["key"]: {kind: spec["value"]}}
    raise InvalidFilter(
        f"{where}.type: {kind!r} is not a filter type: use {', '.join(OPERATORS)} (comparison) or and, or (compound)"
    )


# vector store search ---------------------------------------------------------------------------------
def _filename(hit) -> str:
    if hit.title:
        return hit.title
    if hit.source:
        return posixpath.basename(hit.source.rstrip("/")) or hit.source
    return hit.doc_id


def _attributes(metadata: dict, prefix: str = "") -> dict:
    """Metadata as OpenAI attributes: flat keys (nested objects as dotted keys, which filters accept too)."""
    out: dict = {}
    for key, value in metadata.items():
        if isinstance(value, dict):
            out.update(_attributes(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def vector_store_search(state, collection, body, cancelled=None) -> dict:
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    if not queries or any(not isinstance(q, str) or not q.strip() for q in queries):
        raise bad_request("'query' must be a non-empty string or a non-empty array of non-empty strings", "query")
    where = from_openai_filter(body.filters) if body.filters is not None else None
    ranking = body.ranking_options
    want_rerank = ranking is None or ranking.ranker != "none"
    threshold = ranking.score_threshold if ranking is not None and ranking.score_threshold is not None else 0.0
    state.searcher.limits.check_batch(queries)  # as many queries as a batch search takes (QUARRY_MAX_BATCH_QUERIES)
    for query in queries:  # every query within the limits before any is searched
        state.searcher.check(query, top_k=body.max_num_results)
    best: dict[int, Any] = {}
    for query in queries:  # several queries: their hits merged, each chunk at its best score
        if cancelled is not None and cancelled():
            raise SearchCancelled("the client went away before every query was searched")
        result = state.searcher.relevant(
            collection, query, top_k=body.max_num_results, rerank=want_rerank, filter=where, score_threshold=threshold
        )
        for scored in result.hits:
            kept = best.get(scored.hit.chunk_id)
            if kept is None or scored.relevance > kept.relevance:
                best[scored.hit.chunk_id] = scored
    ranked = sorted(best.values(), key=lambda s: -s.relevance)[: body.max_num_results]
    data = [
        {
            "file_id": s.hit.doc_id,
            "filename": _filename(s.hit),
            "score": s.relevance,
            "attributes": _attributes(s.hit.metadata or {}),
            "content": [{"type": "text", "text": s.hit.text}],
        }
        for s in ranked
    ]
    return {
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": data,
        "has_more": False,
        "next_page": None,
    }
