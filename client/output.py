"""Render results for people (tables, summaries) and machines (JSON, JSON Lines); pure functions returning text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from tritonclient.grpc import model_config_pb2 as mc

from client import sparse
from client.metadata import Health, RepositoryEntry
from client.rerank import RankedDocument
from client.results import Label, Prediction

TEXT_WIDTH = 40
PREVIEW_VALUES = 4
PREVIEW_TOKENS = 8


def health_line(health: Health) -> str:
    """``http://host:8000: live, ready; model m: READY``."""
    server = f"{health.url}: {'live' if health.live else 'not live'}, {'ready' if health.ready else 'not ready'}"
    if health.model is None:
        return server
    return f"{server}; model {health.model}: {health.model_state or ('READY' if health.model_ready else '?')}"


def models_table(entries: Sequence[RepositoryEntry]) -> str:
    """The repository index as an aligned table; reasons keep their first line."""
    rows = [("MODEL", "VERSION", "STATE", "REASON")]
    rows += [(e.name, e.version or "-", e.state or "not loaded", e.first_reason_line) for e in entries]
    return _table(rows)


def metadata_text(metadata: dict[str, Any]) -> str:
    """Model metadata: platform, versions and tensors with datatypes and shapes (``-1`` is dynamic)."""
    lines = [f"{metadata['name']}  platform: {metadata.get('platform') or '-'}  "
             f"versions: {', '.join(metadata.get('versions', [])) or '-'}"]
    for kind in ("inputs", "outputs"):
        lines.append(f"{kind}:")
        rows = [(f"  {t['name']}", t["datatype"], _shape(t["shape"])) for t in metadata.get(kind, [])]
        lines.append(_table(rows) if rows else "  (none)")
    return "\n".join(lines)


def config_text(config: mc.ModelConfig) -> str:
    """A model config's essentials: platform, batching, instances, tensors, ensemble steps, parameters."""
    lines = [f"{config.name}  platform: {config.platform or config.backend or '-'}",
             f"max batch size: {config.max_batch_size}{'' if config.max_batch_size else ' (no batching)'}"]
    if config.HasField("dynamic_batching"):
        batching = config.dynamic_batching
        preferred = ", ".join(map(str, batching.preferred_batch_size)) or "-"
        lines.append(f"dynamic batching: max queue delay {batching.max_queue_delay_microseconds} µs, "
                     f"preferred batch sizes {preferred}")
    groups = [f"{g.count} × {mc.ModelInstanceGroup.Kind.Name(g.kind).removeprefix('KIND_')}"
              + (f" (GPUs {', '.join(map(str, g.gpus))})" if g.gpus else "") for g in config.instance_group]
    if groups:
        lines.append(f"instance groups: {'; '.join(groups)}")
    for kind, tensors in (("inputs", config.input), ("outputs", config.output)):
        lines.append(f"{kind}:")
        rows = [(f"  {t.name}", mc.DataType.Name(t.data_type).removeprefix("TYPE_"), _shape(t.dims),
                 f"labels: {t.label_filename}" if getattr(t, "label_filename", "") else "") for t in tensors]
        lines.append(_table(rows) if rows else "  (none)")
    if config.HasField("ensemble_scheduling"):
        lines.append("ensemble steps:")
        for step in config.ensemble_scheduling.step:
            inputs = ", ".join(f"{k}←{v}" if k != v else k for k, v in sorted(step.input_map.items()))
            outputs = ", ".join(f"{k}→{v}" if k != v else k for k, v in sorted(step.output_map.items()))
            lines.append(f"  {step.model_name}: {inputs} ⇒ {outputs}")
    if config.parameters:
        lines.append("parameters:")
        lines.extend(f"  {key} = {value.string_value}" for key, value in sorted(config.parameters.items()))
    return "\n".join(lines)


def prediction_row(prediction: Prediction, top_k: int = 1) -> str:
    """One table row: position, the text (shortened) and the result in brief (``top_k`` labels)."""
    result = summary(prediction, top_k)
    return f"{prediction.index + 1:>6}  {_shorten(prediction.text, TEXT_WIDTH):<{TEXT_WIDTH}}  {result}"


def prediction_header() -> str:
    """The header of :func:`prediction_row` rows."""
    return f"{'#':>6}  {'TEXT':<{TEXT_WIDTH}}  RESULT"


def summary(prediction: Prediction, top_k: int = 1) -> str:
    """The result in brief: ``top_k`` labels with scores, per-token labels, or a vector's size and first values."""
    if prediction.error is not None:
        return f"error: {prediction.error}"
    if prediction.labels:
        return ", ".join(_label(label) for label in prediction.labels[:top_k])
    if prediction.entities is not None:
        return entities_summary(prediction.entities, len(prediction.token_labels))
    found = sparse.terms(prediction.outputs)
    if found is not None:
        shown = ", ".join(f"{term.token} {term.weight:.3f}" for term in found[:PREVIEW_VALUES])
        return f"{len(found)} terms: {shown}{', …' if len(found) > PREVIEW_VALUES else ''}"
    if prediction.token_labels:
        shown = " ".join(token[0].label for token in prediction.token_labels[:PREVIEW_TOKENS] if token)
        more = " …" if len(prediction.token_labels) > PREVIEW_TOKENS else ""
        return f"{len(prediction.token_labels)} tokens: {shown}{more}"
    parts = []
    for name, array in prediction.outputs.items():
        values = np.asarray(array)
        flat = values.reshape(-1)[:PREVIEW_VALUES]
        preview = ", ".join(f"{v:.4f}" if np.issubdtype(values.dtype, np.floating) else str(v) for v in flat)
        more = ", …" if values.size > PREVIEW_VALUES else ""
        size = f"{values.shape[0]} dims" if values.ndim == 1 else "×".join(map(str, values.shape))
        parts.append(f"{name}: {size} [{preview}{more}]")
    return "; ".join(parts)


def ranking_table(ranked: Sequence[RankedDocument]) -> str:
    """Reranked documents, best first: rank, score, position in the input and the document (shortened)."""
    rows = [("RANK", "SCORE", "#", "DOCUMENT")]
    rows += [(str(rank), f"{item.score:.4f}", str(item.index + 1), _shorten(item.document, 2 * TEXT_WIDTH))
             for rank, item in enumerate(ranked, start=1)]
    return _table(rows)


def entities_summary(entities: Sequence[dict], tokens: int) -> str:
    """``PER "John" 0:4 0.9812; LOC "Paris" 14:19 0.9733`` (or ``no entities``), and the token count."""
    shown = "; ".join(f"{e.get('entity_group', e.get('entity'))} \"{e['word']}\" {e['start']}:{e['end']} "
                      f"{e['score']:.4f}" for e in entities)
    return f"{shown or 'no entities'} ({tokens} tokens)"


def json_line(prediction: Prediction) -> str:
    """One JSON Lines record with full vectors (float32 values in their shortest exact form)."""
    return orjson.dumps(prediction.to_record(arrays=True), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def json_document(records: Any) -> str:
    """Indented JSON."""
    return orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2).decode()


def shorten(text: str, width: int = TEXT_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    return _shorten(text, width)


def _label(label: Label) -> str:
    return f"{label.label} {label.score:.4f}"


def _shape(dims: Sequence[int | str]) -> str:
    return "[" + ", ".join(str(int(d)) for d in dims) + "]"


def _shorten(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
