"""Tasks beyond one text in, one tensor out: reranking pairs, named entities, sparse embeddings."""
