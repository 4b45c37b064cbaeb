"""The naive peer: FastAPI + transformers, mean pooling, one request at a time (what a quick prototype looks like).

Runs in its own venv (:data:`benchmarks.peer_envs.NAIVE_ENV`), so it imports nothing from this project::

    <venv>/bin/python benchmarks/naive_app.py --model FOLDER --port 8000

``POST /embeddings`` takes ``{"input": ["text", ...]}`` and answers ``{"data": [{"embedding": [...]}, ...]}``
(the shape infinity-emb answers in), L2-normalized mean-pooled vectors as sentence-transformers' MiniLM gives.
A plain ``def`` endpoint holding one lock: requests run one at a time, never batched.
"""

from __future__ import annotations

import argparse
import threading

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModel, AutoTokenizer


class Request(BaseModel):
    """An embeddings request."""

    input: list[str]
    model: str = ""


def build(folder: str) -> FastAPI:
    """The app serving the transformers model in ``folder``."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/embeddings")
    def embeddings(request: Request) -> dict[str, object]:
        with lock, torch.inference_mode():
            batch = tokenizer(request.input, padding=True, truncation=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=-1)
        return {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                                           for i, v in enumerate(vectors)]}

    return app


def main() -> None:
    """Parse the command line and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="transformers model folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    uvicorn.run(build(options.model), host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
