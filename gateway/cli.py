"""Command line of ``python -m gateway``: serve the OpenAI-compatible API in front of one Triton."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from gateway.settings import API_KEYS_ENV, MAX_DOCUMENTS, MAX_INPUTS, MAX_TEXT_CHARS, GatewaySettings, read_api_keys
from tritonize.cli_errors import debug_option, report, requires_extras
from tritonize.errors import UsageError

#: Port the gateway listens on by default (Triton holds 8000–8002).
DEFAULT_PORT = 8080


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--triton", "triton_url", default="localhost:8001", envvar="TRITONIZE_GATEWAY_TRITON",
              show_envvar=True, help="Triton's gRPC endpoint (host:port).")
@click.option("--host", default="127.0.0.1", envvar="TRITONIZE_GATEWAY_HOST", show_envvar=True,
              help="Address to listen on (0.0.0.0 for every interface, as in a container).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, envvar="TRITONIZE_GATEWAY_PORT",
              show_envvar=True, help="HTTP port.")
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path), envvar="TRITONIZE_REPOSITORY",
              show_envvar=True, help="The served model repository, when readable here: usage tokens are counted "
                                     "with its tokenizer files instead of a call to each tokenizer step.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              envvar="TRITONIZE_GATEWAY_API_KEY_FILE", show_envvar=True,
              help=f"Accepted API keys, one per line (also comma-separated in ${API_KEYS_ENV}); none: open.")
@click.option("--require-model", "required_models", multiple=True,
              help="A model /health waits for (repeatable) [default: any embedding or rerank model].")
@click.option("--max-inputs", type=click.IntRange(min=1), default=MAX_INPUTS, help="Texts per embeddings request.")
@click.option("--max-documents", type=click.IntRange(min=1), default=MAX_DOCUMENTS,
              help="Documents per rerank request.")
@click.option("--max-text-chars", type=click.IntRange(min=1), default=MAX_TEXT_CHARS, help="Characters per text.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, help="Seconds per call to Triton.")
@debug_option("Show stack traces and debug logs.")
@requires_extras
def main(triton_url: str, host: str, port: int, repository: Path | None, api_key_file: Path | None,
         required_models: tuple[str, ...], max_inputs: int, max_documents: int, max_text_chars: int, timeout: float,
         debug: bool) -> None:
    """Serve /v1/embeddings, /v1/models, /v1/rerank (/v2/rerank, /rerank), /health and /metrics over Triton."""
    import uvicorn

    from gateway.app import create_app

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if debug else logging.INFO,
                        format="%(levelname)s: %(name)s: %(message)s")
    try:
        try:
            keys = read_api_keys(key_file=api_key_file)
        except OSError as error:
            raise UsageError(f"Cannot read the API key file {api_key_file}: {error}") from None
        settings = GatewaySettings(triton_url=triton_url, repository=repository, api_keys=keys,
                                   max_inputs=max_inputs, max_documents=max_documents,
                                   max_text_chars=max_text_chars, timeout_s=timeout,
                                   required_models=required_models)
        logging.getLogger("gateway").info("Serving http://%s:%d in front of Triton at %s (%s)", host, port,
                                          triton_url, f"{len(keys)} API keys" if keys else "no API keys")
        uvicorn.run(create_app(settings), host=host, port=port, log_level="debug" if debug else "warning",
                    access_log=False)
    except UsageError as error:
        raise report(error, debug) from None
