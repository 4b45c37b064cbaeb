"""Walk every (model type, architecture) pair transformers registers through the exporter, in-process.

Each pair gets a folder holding only its default ``config.json`` (the config class's defaults, with the class
named in ``architectures``). ``run_export`` on it either refuses the architecture (the one-line message says what
the model is) or passes detection and stops at the missing weights. No weights load, so the walk takes seconds.

    python -m benchmarks.architectures     # writes benchmarks/results/architectures.md
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "architectures.md"
#: The message of an architecture that passes detection: the next step wants the weights.
PASSES = "has no weights"


@dataclass(frozen=True)
class Outcome:
    """What the exporter said about one pair.

    Attributes:
        model_type: The family (``config.json`` ``model_type``).
        architecture: The class named in ``architectures``.
        error: The error's class name (a tritonize domain error, or anything else when something escaped).
        message: Its message.
        exit_code: The exit code the CLI gives it (0 when it is not a domain error).
    """

    model_type: str
    architecture: str
    error: str
    message: str
    exit_code: int

    @property
    def domain(self) -> bool:
        """A tritonize domain error in one line, exit 1 or 2: what the CLI prints without a traceback."""
        return self.exit_code in (1, 2) and "\n" not in self.message

    @property
    def template(self) -> str:
        """The message with this architecture, its family and folder left out, for grouping."""
        text = self.message.replace(self.architecture, "<architecture>")
        return re.sub(r"'[^']*/arch-\d+'", "'<folder>'", text)


def registered_pairs() -> list[tuple[str, str]]:
    """Every ``(model type, class name)`` of transformers' ``MODEL_*_MAPPING_NAMES`` tables, sorted, once."""
    from export.architectures import tables

    pairs = {(model_type, name) for table in tables().values() for model_type, names in table.items() for name in names}
    return sorted(pairs)


def default_config(model_type: str, architecture: str) -> dict:
    """The family's default ``config.json`` (its config class's non-default values) naming ``architecture``."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config = CONFIG_MAPPING[model_type]().to_diff_dict()
    except Exception:  # noqa: BLE001 - a config class that needs arguments: the model type alone
        config = {}
    return {**config, "model_type": model_type, "architectures": [architecture]}


def outcome(folder: Path, model_type: str, architecture: str) -> Outcome:
    """Export ``folder`` (config.json only) with every check that needs weights or a server off."""
    from export.pipeline import run_export
    from export.settings import ExportSettings
    from tritonize.errors import TritonizeError

    settings = ExportSettings(model=str(folder), repository=folder.parent / "repository", formats=("onnx",),
                              instance_kind="cpu", release_check=False, load_check=False)
    try:
        run_export(settings)
    except TritonizeError as error:
        return Outcome(model_type, architecture, type(error).__name__, str(error), error.exit_code)
    except Exception as error:  # noqa: BLE001 - what the walk is looking for
        return Outcome(model_type, architecture, type(error).__name__, str(error), 0)
    return Outcome(model_type, architecture, "", "exported", 0)


def walk(root: Path, pairs: list[tuple[str, str]] | None = None) -> list[Outcome]:
    """The outcome of every registered pair (or of ``pairs``), each in its own folder under ``root``."""
    import transformers

    transformers.logging.set_verbosity_error()
    outcomes = []
    for index, (model_type, architecture) in enumerate(pairs if pairs is not None else registered_pairs()):
        folder = root / f"arch-{index}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(default_config(model_type, architecture), default=str))
        outcomes.append(outcome(folder, model_type, architecture))
    return outcomes


def markdown(outcomes: list[Outcome]) -> str:
    """The pairs grouped by what the exporter does with them, largest groups first."""
    import transformers

    groups: dict[str, list[Outcome]] = defaultdict(list)
    for item in outcomes:
        groups[item.template if item.domain else f"UNEXPECTED {item.error}: {item.message}"].append(item)
    passing = sum(len(items) for key, items in groups.items() if PASSES in key)
    lines = [
        "# What tritonize does with every architecture transformers registers",
        "",
        f"transformers {transformers.__version__}: {len(outcomes)} (model type, architecture) pairs from its "
        f"`MODEL_*_MAPPING_NAMES` tables, each exported from a folder holding only its default `config.json` "
        f"(`python -m benchmarks.architectures`; `tests/integration/test_refusals.py` runs the same walk).",
        "",
        f"- passes detection (stops only at the missing weights; whether it exports is then decided by tracing and "
        f"verification): {passing}",
        f"- refused with a one-line message: {len(outcomes) - passing - sum(not o.domain for o in outcomes)}",
        f"- anything else (a traceback): {sum(not o.domain for o in outcomes)}",
        "",
    ]
    ordered = sorted(groups.items(), key=lambda kv: (PASSES not in kv[0], -len(kv[1])))
    for key, items in ordered:
        lines += [f"## {len(items)} × {key}", "",
                  ", ".join(f"`{o.architecture}`" for o in sorted(items, key=lambda o: o.architecture)), ""]
    return "\n".join(lines)


def main() -> int:
    """Walk every pair and write :data:`RESULT`; exit 1 when any pair escaped as a non-domain error."""
    with tempfile.TemporaryDirectory(prefix="tritonize-architectures-") as tmp:
        outcomes = walk(Path(tmp))
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(markdown(outcomes))
    print(f"{len(outcomes)} pairs → {RESULT}")
    return 0 if all(o.domain for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
