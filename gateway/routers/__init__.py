"""One router per endpoint family: embeddings, models, rerank, health and metrics."""
