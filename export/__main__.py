"""``python -m export``."""

from export.cli import main

if __name__ == "__main__":
    main(prog_name="python -m export")
