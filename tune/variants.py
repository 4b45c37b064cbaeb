"""Accelerated variants of the artifact (``--optimize``, ``--quantize int8``, ``--fp16``), each gated before timing.

A variant is exported from the source model by the exporter itself (:func:`export.pipeline.run_export`), so it
passes exactly the accuracy gate an export with the same flag would (:mod:`export.gates`); one that fails is
reported and never timed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from export.errors import VerificationError
from export.settings import Acceleration, ExportSettings
from tritonize.errors import TritonizeError

#: Variants by the name tables use, and the acceleration each exports with.
VARIANTS: dict[str, Acceleration] = {
    "optimize": Acceleration(optimize=True),
    "int8": Acceleration(quantize="int8"),
    "fp16": Acceleration(fp16=True),
}


@dataclass(frozen=True)
class Variant:
    """One variant's export.

    Attributes:
        name: ``optimize``, ``int8`` or ``fp16``.
        files: Its artifact's version folder (``None`` when it failed).
        verdict: ``passed`` with the gate's numbers, or why it was dropped.
    """

    name: str
    files: Path | None
    verdict: str


def export_variants(names: tuple[str, ...], source: str | None, base: str, instance_kind: str, workdir: Path,
                    say: Callable[[str], None], one_step: bool = False) -> list[Variant]:
    """Export each variant of ``source`` (``None``: the bundled MiniLM) as ``base`` into its own repository.

    Only the artifact's files are used (a one-step model's whole version folder, when ``one_step``); the configs
    stay the candidate's.
    """
    from export.pipeline import run_export

    found = []
    for name in names:
        say(f"variant {name}: exporting and checking its accuracy gate …")
        settings = ExportSettings(model=source, repository=workdir / f"variant-{name}", name=base,
                                  instance_kind=instance_kind, acceleration=VARIANTS[name], release_check=False,
                                  torchscript_release_check=False, load_check=False,
                                  serving="one-step" if one_step else "ensemble")
        try:
            result = run_export(settings)
        except VerificationError as error:
            found.append(Variant(name, None, f"failed its accuracy gate: {str(error).splitlines()[0]}"))
        except TritonizeError as error:
            found.append(Variant(name, None, f"not exported: {str(error).splitlines()[0]}"))
        else:
            fmt = result.ensemble_format
            model = result.names.ensemble if result.serving.one_step else result.names.artifact(fmt)
            folder = result.repository / model / str(result.version)
            found.append(Variant(name, folder, "passed its accuracy gate"))
        say(f"variant {name}: {found[-1].verdict}")
    return found
