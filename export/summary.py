"""Human-readable summaries of an export: verification table, files written, how to serve."""

from __future__ import annotations

from pathlib import Path

from export.gates import Gate
from export.pipeline import ExportResult
from export.settings import SERVING_DEFAULTS, ExportSettings
from export.signature import IMAGE_TASKS, LEXICAL_WEIGHTS_OUTPUT, MULTI_VECTOR_OUTPUTS, Task
from export.verify import Report


def verification_table(report: Report) -> str:
    """Numbers per artifact and output over all verification texts, and the gates applied."""
    header = (f"{'artifact':<22} {'variant':<10} {'output':<14} {'texts':>5} {'max |diff|':>10} "
              f"{'min cos':>9} {'mean cos':>9} {'top-1 agr':>9}  result")
    lines = [header, "-" * len(header)]
    for check in report.checks:
        lines.append(
            f"{check.artifact:<22} {check.gate.variant:<10} {check.output:<14} {check.texts:>5} "
            f"{check.max_abs_diff:>10.2e} {_num(check.min_cosine, '.6f'):>9} {_num(check.mean_cosine, '.6f'):>9} "
            f"{_num(check.agreement, '.1%'):>9}  {'ok' if check.passed else 'FAILED'}"
        )
    gates = {check.gate.variant: check.gate for check in report.checks}
    lines += [f"gate {name}: {describe(gate)}" for name, gate in gates.items()]
    return "\n".join(lines)


def describe(gate: Gate) -> str:
    """The thresholds of a gate in words."""
    parts = []
    if gate.atol is not None:
        parts.append(f"max |diff| ≤ {gate.atol:g}")
    if gate.min_cosine is not None:
        parts.append(f"min cosine ≥ {gate.min_cosine}")
    if gate.mean_cosine is not None:
        parts.append(f"mean cosine ≥ {gate.mean_cosine}")
    if gate.min_agreement is not None:
        parts.append(f"top-1 agreement ≥ {gate.min_agreement:.0%}")
    return ", ".join(parts) or "none"


def files_table(files: list[Path], repository: Path) -> str:
    """Files written, relative to the repository, with sizes."""
    return "\n".join(f"  {_size(p.stat().st_size):>9}  {p.relative_to(repository)}" for p in files)


def image_target(serving: ExportSettings) -> str:
    """The target and serving lines of an image export: what the image models got, and which are image defaults."""
    batching = serving.batching
    threads = serving.threads_per_instance or "backend default"
    preferred = " ".join(map(str, batching.preferred_batch_sizes)) or "none"
    given = [name for name in SERVING_DEFAULTS if name not in serving.defaulted]
    defaults = f"image defaults for {serving.instance_kind}" + (f" except {', '.join(given)}" if given else "")
    return (f"  target    Triton {serving.triton_release} (NGC), ONNX opset {serving.opset}, "
            f"instances {serving.instance_count}× {serving.instance_kind} × {threads} thread(s), max_batch_size "
            f"{batching.max_batch_size}\n"
            f"  batching  preferred batch {preferred}, queue delay {batching.max_queue_delay_us} µs, preprocessing "
            f"instances {serving.tokenizer_instance_count}: {defaults} (docs/images.md#batching)")


def summary(result: ExportResult, settings: ExportSettings) -> str:
    """The full report printed after a successful export."""
    names = result.names
    specs = result.signature.outputs
    if result.task is Task.MULTI_VECTOR:  # the ensemble returns the step's packed outputs (BGE-M3: and its dense)
        m3 = len(specs) > 1
        specs = (*specs[:1], *MULTI_VECTOR_OUTPUTS, LEXICAL_WEIGHTS_OUTPUT) if m3 else MULTI_VECTOR_OUTPUTS
    outputs = ", ".join(f"{s.name} {s.triton_dtype} {list(s.dims)}" for s in specs)
    inputs = ", ".join(f"{s.name} {s.triton_dtype} {list(s.dims)}" for s in result.signature.text_inputs)
    lines = [
        f"Exported {result.model_id} ({result.task.value}) as version {result.version} to {result.repository}",
        _served_model(result, inputs, outputs),
        f"  serving   {result.serving.path}: {result.serving.reason}",
        _first_step(result, settings),
        f"  target    Triton {settings.triton_release} (NGC), ONNX opset {settings.opset}, "
        f"instances {settings.instance_count}× {settings.instance_kind}, max_batch_size "
        f"{settings.batching.max_batch_size}",
    ]
    if result.image_serving is not None:
        lines[-1] = image_target(result.image_serving)
    if result.task is Task.MULTI_VECTOR and len(result.signature.outputs) == 1:
        dim = result.signature.outputs[0].dims[-1]
        lines.append(f"  queries   {names.query.ensemble}: the same for queries (marker, [MASK] expansion); "
                     f"each text's vectors packed float32 [tokens, {dim}] in one BYTES item")
    if result.zero_shot:
        lines.append(f"  zero-shot {names.zero_shot}: TEXT, CANDIDATE_LABELS, HYPOTHESIS_TEMPLATE?, MULTI_LABEL? → "
                     f"labels, scores  (calls {names.ensemble} with one pair per label)")
    if result.detection:
        lines.append(f"  task      {result.detection}")
    if result.labels:
        shown = ", ".join(result.labels[:8]) + (" …" if len(result.labels) > 8 else "")
        lines.append(f"  labels    {len(result.labels)}: {shown}")
    lines += [
        "",
        "Verification: PyTorch against the reference library (ref), artifacts against PyTorch:",
        verification_table(result.report),
        result.load_check.describe(),
        "",
        "Files written:",
        files_table(result.files, result.repository),
        *([f"Removed {', '.join(result.retired)}: steps of the replaced ensemble that nothing calls any more."]
          if result.retired else []),
        "",
        *release_notes(settings.triton_release),
        f"Serve it:  python -m server --repository {settings.repository}",
        f"Query it:  {query_example(result)}",
    ]
    if result.zero_shot:
        lines.append(f'Zero-shot: client zero-shot --model {names.zero_shot} "the battery died" '
                     f'--labels "battery,screen,price"')
    return "\n".join(lines)


def _served_model(result: ExportResult, inputs: str, outputs: str) -> str:
    """The line about the model clients call: the ensemble and what it calls, or the one-step model."""
    names = result.names
    if result.serving.one_step:
        return (f"  one-step  {names.ensemble}: {inputs} → {outputs}  (tokenizer and ONNX Runtime in one "
                f"Python-backend model)")
    return f"  ensemble  {names.ensemble}: {inputs} → {outputs}  (calls {names.artifact(result.ensemble_format)})"


def _first_step(result: ExportResult, settings: ExportSettings) -> str:
    """The line about the ensemble's first step: the tokenizer, or the image preprocessing."""
    names = result.names
    if result.task in IMAGE_TASKS:
        pixels = result.signature.inputs[0]
        checked = result.pixel_check
        equal = (f", equal to the image processor's on {checked.images} images (max |diff| "
                 f"{checked.max_abs_diff:.1e})" if checked else "")
        line = f"  preprocess {names.preprocess}: encoded image → {pixels.name} FP32 {list(pixels.dims)}{equal}"
        if result.text_names is not None:
            line += (f"\n  text      {result.text_names.ensemble}: TEXT BYTES [1] → embeddings (calls "
                     f"{result.text_names.tokenizer}, {result.text_names.artifact(result.ensemble_format)}); "
                     f"zero-shot settings in {names.ensemble}'s config")
        return line
    where = f"in {names.ensemble}" if result.serving.one_step else names.tokenizer
    return (f"  tokenizer {where}: max_length {result.max_length}, "
            f"padded to multiples of {settings.batching.pad_to_multiple_of}")


def release_notes(tag: str) -> list[str]:
    """The target release's vulnerability warning and how the local Triton differs from it, as summary lines."""
    from tritonize.releases import LOCAL_RELEASE, local_differences, warning

    lines = [line for line in (warning(tag), local_differences(tag, LOCAL_RELEASE)) if line]
    return [*lines, ""] if lines else []


def query_example(result: ExportResult) -> str:
    """A client command line that queries the exported ensemble."""
    if result.task in IMAGE_TASKS and result.text_names is not None:
        return f'client predict --model {result.names.ensemble} --image photo.jpg --labels "cat,dog"'
    if result.task in IMAGE_TASKS:
        return f"client predict --model {result.names.ensemble} --image photo.jpg"
    if result.task is Task.TEXT_RANKING:
        return f'client rerank --model {result.names.ensemble} "what is triton" "Triton serves models" "A fox"'
    if result.task is Task.MULTI_VECTOR:
        return f'client rerank --model {result.names.ensemble} "what is triton" "Triton serves models"  (MaxSim)'
    if result.task is Task.SPARSE_EMBEDDING:
        return f'client sparse --model {result.names.ensemble} "Hello world"'
    return f'client predict --model {result.names.ensemble} "Hello world"'


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
