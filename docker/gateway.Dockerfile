# syntax=docker/dockerfile:1
# The OpenAI-compatible embeddings / rerank gateway (gateway/) in front of a Triton serving a tritonize repository.
# Build context: the repository root (docker/gateway.Dockerfile.dockerignore keeps only what the build reads).
#
#   docker build -f docker/gateway.Dockerfile -t tritonize-gateway:0.1.0 .
#   docker run -p 8080:8080 -e TRITONIZE_GATEWAY_TRITON=triton-host:8001 tritonize-gateway:0.1.0
#
# Settings (environment): TRITONIZE_GATEWAY_TRITON (Triton's gRPC host:port), TRITONIZE_GATEWAY_API_KEYS
# (comma-separated) or TRITONIZE_GATEWAY_API_KEY_FILE (a mounted secret), TRITONIZE_REPOSITORY (the model
# repository mounted read-only: usage tokens are then counted locally instead of by the tokenizer step).
FROM python:3.11-slim-bookworm

ARG VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="tritonize-gateway" \
      org.opencontainers.image.description="OpenAI-compatible embeddings and rerank API in front of Triton" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The gateway's runtime dependencies, pinned (docker/gateway-requirements.txt); then the project without its
# core dependencies, which are the exporter's (torch, transformers) and never imported by the gateway.
RUN --mount=type=bind,source=docker/gateway-requirements.txt,target=/tmp/gateway-requirements.txt \
    pip install --no-cache-dir -r /tmp/gateway-requirements.txt
COPY pyproject.toml README.md /tmp/src/
COPY tritonize/ /tmp/src/tritonize/
COPY client/ /tmp/src/client/
COPY gateway/ /tmp/src/gateway/
RUN pip install --no-cache-dir --no-deps /tmp/src \
    && rm -rf /tmp/src \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway
WORKDIR /home/gateway

USER 10001:10001
ENV TRITONIZE_GATEWAY_HOST=0.0.0.0 \
    TRITONIZE_GATEWAY_PORT=8080 \
    TRITONIZE_GATEWAY_TRITON=triton:8001
EXPOSE 8080

# Healthy = Triton ready and serving an embedding or rerank model (GET /health answers 200).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "gateway.healthcheck"]

CMD ["python", "-m", "gateway"]
