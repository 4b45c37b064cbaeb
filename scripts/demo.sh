#!/usr/bin/env bash
# End to end on the bundled all-MiniLM-L6-v2: serve REPOSITORY with the local Triton, wait for health, predict.
# Usage: scripts/demo.sh REPOSITORY MODEL [HTTP_PORT]   (export first: make demo does)
set -euo pipefail
repository=${1:?repository}; model=${2:?model name}; port=${3:-8000}
bin=$(dirname "$0")/../.venv/bin
log=$(mktemp -t tritonize-demo-server.XXXXXX.log)
url="localhost:${port}"

"$bin/python" -m server --repository "$repository" --http-port "$port" --grpc-port $((port + 1)) \
  --metrics-port $((port + 2)) >"$log" 2>&1 &
server=$!
stop() { kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; rm -f "$log"; }
trap stop EXIT

if ! "$bin/client" --url "$url" health --wait 180 --model "$model"; then
  echo "The local server did not become ready; its output:" >&2
  cat "$log" >&2
  exit 1
fi
"$bin/client" --url "$url" models
"$bin/client" --url "$url" predict --model "$model" \
  "Triton serves many models at once." "A quick brown fox jumps over the lazy dog." "Embeddings power semantic search."
echo "The same model over gRPC:"
"$bin/client" --url "grpc://localhost:$((port + 1))" predict --model "$model" "Hello world"
