"""An OpenAI-compatible embeddings and Cohere/Jina/TEI-compatible rerank API in front of Triton's ensembles.

``python -m gateway --triton localhost:8001`` serves ``/v1/embeddings``, ``/v1/models``, ``/v1/rerank`` (and
``/v2/rerank``, ``/rerank``), ``/health`` and ``/metrics``; it talks to Triton over one gRPC channel.
"""
