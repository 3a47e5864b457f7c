"""Other services' wire formats: OpenAI (embeddings, models, vector-store search) and Cohere/Jina rerank,
with their request schemas and error shapes."""
