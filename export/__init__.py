"""Export a Hugging Face transformer into a verified, complete Triton model repository."""
