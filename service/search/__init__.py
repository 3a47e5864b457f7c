"""Search: pipeline (retrieve, fuse, rerank), fusion, relevance (0..1 scores), context (an LLM-ready block)."""
