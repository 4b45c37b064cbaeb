"""``python -m server``: serve a model repository with the bundled Triton Inference Server."""

from server.cli import main

if __name__ == "__main__":
    main(prog_name="python -m server")
