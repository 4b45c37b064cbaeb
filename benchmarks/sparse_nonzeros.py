"""How many non-zero weights a SPLADE model gives typical texts: the basis of the default ``--sparse-top-k``.

Usage: ``python benchmarks/sparse_nonzeros.py FOLDER`` with a ``*ForMaskedLM`` (SPLADE) folder. Encodes single
sentences (query-like), and passages of 3 and 8 sentences from the offline corpus (Python docstrings) with
``SparseEncoder`` (MLMTransformer + SpladePooling max), and prints percentiles of the non-zero counts.
"""

from __future__ import annotations

import sys

import numpy as np
from sentence_transformers import SparseEncoder
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sparse_encoder.modules import SpladePooling

from client.corpus import corpus


def main(folder: str) -> None:
    """Print non-zero count percentiles per text kind."""
    transformer = Transformer(folder, transformer_task="fill-mask")
    encoder = SparseEncoder(modules=[transformer, SpladePooling("max")], device="cpu")
    sentences = corpus(512)
    kinds = {
        "sentence": sentences[:256],
        "passage (3 sentences)": [" ".join(sentences[i:i + 3]) for i in range(0, 384, 3)],
        "passage (8 sentences)": [" ".join(sentences[i:i + 8]) for i in range(0, 512, 8)],
    }
    print(f"{'texts':<24} {'n':>4} {'tokens p50':>10} {'nnz p50':>8} {'p90':>6} {'p99':>6} {'max':>6}")
    for kind, texts in kinds.items():
        embeddings = encoder.encode(texts, batch_size=32, convert_to_tensor=True).to_dense().numpy()
        nonzeros = (embeddings > 0).sum(axis=1)
        tokens = [len(transformer.tokenizer(text, truncation=True)["input_ids"]) for text in texts]
        p50, p90, p99 = np.percentile(nonzeros, [50, 90, 99])
        print(f"{kind:<24} {len(texts):>4} {np.median(tokens):>10.0f} {p50:>8.0f} {p90:>6.0f} {p99:>6.0f} "
              f"{nonzeros.max():>6}")


if __name__ == "__main__":
    main(sys.argv[1])
