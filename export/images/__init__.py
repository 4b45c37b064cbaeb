"""Image models: classifiers and image embeddings, served from encoded image bytes."""
