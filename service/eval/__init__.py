"""Retrieval quality: IR metrics, `quarry eval` runs over BEIR datasets, and reranker fine-tuning."""
