"""The reference: what the library that defines a model returns for the verification texts.

Sentence-transformers folders: ``SentenceTransformer(folder).encode`` itself (its tokenizer, prompts and every
module of ``modules.json``). Plain transformers models: the model called with transformers' own tokenizer, with
the text-classification pipeline's post-processing (softmax, or sigmoid for multi-label and one-logit models)
or, for embeddings, the documented pooling. The exported head, tokenized by the served tokenizer model, must
equal it, so a module, prompt or tokenizer setting we do not reproduce cannot pass unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.gates import Gate
from export.load_model import LoadedModel
from export.signature import Signature, Task
from export.verify import Check, row_cosines


@dataclass(frozen=True)
class Reference:
    """Reference outputs for a list of texts.

    Attributes:
        library: Who computed them, with its version (``sentence-transformers 6.3.0``).
        label: Short name for the verification table (``st-6.3.0``).
        outputs: Output name → one array per text (``[dim]``, ``[labels]`` or ``[tokens, labels]``).
    """

    library: str
    label: str
    outputs: dict[str, list[np.ndarray]]


def reference_outputs(loaded: LoadedModel, texts: list[str], prompt_name: str | None = None) -> Reference:
    """Run the defining library on ``texts`` (with the named prompt, else the folder's default)."""
    if loaded.reference is not None:
        return _sentence_transformers(loaded, texts, prompt_name)
    return _transformers(loaded, texts)


def _sentence_transformers(loaded: LoadedModel, texts: list[str], prompt_name: str | None) -> Reference:
    import sentence_transformers

    normalizes = any(m.kind == "Normalize" for m in loaded.info.st_folder.modules)
    embeddings = loaded.reference.encode(
        texts, batch_size=len(texts), convert_to_numpy=True, prompt_name=prompt_name,
        truncate_dim=loaded.truncate_dim, normalize_embeddings=normalizes and loaded.truncate_dim is not None,
    )
    version = sentence_transformers.__version__
    return Reference(f"sentence-transformers {version}", f"st-{version}",
                     {"embeddings": [np.asarray(row, dtype=np.float64) for row in embeddings]})


def _transformers(loaded: LoadedModel, texts: list[str]) -> Reference:
    import torch
    import transformers

    from export.postprocess_heads import pool, uses_sigmoid

    tokenizer, model = loaded.tokenizer, loaded.model
    batch = tokenizer(texts, padding=True, truncation=True, max_length=loaded.max_length, return_tensors="pt")
    batch = {name: batch[name] for name in loaded.signature.input_names}
    with torch.inference_mode():
        output = model(**batch, **({"use_cache": False} if loaded.info.decoder else {}))
    mask = batch["attention_mask"].bool()
    version = transformers.__version__
    if loaded.info.task is Task.FEATURE_EXTRACTION:
        embeddings = pool(output.last_hidden_state, batch["attention_mask"], loaded.info.pooling)
        if loaded.truncate_dim is not None:
            embeddings = embeddings[:, : loaded.truncate_dim]
        outputs = {"embeddings": [row.double().numpy() for row in embeddings]}
    else:
        logits = output.logits
        probabilities = torch.sigmoid(logits) if uses_sigmoid(loaded) else torch.softmax(logits, dim=-1)
        if loaded.info.task is Task.TOKEN_CLASSIFICATION:
            outputs = {"logits": [row[m].double().numpy() for row, m in zip(logits, mask)],
                       "probabilities": [row[m].double().numpy() for row, m in zip(probabilities, mask)]}
        else:
            outputs = {"logits": [row.double().numpy() for row in logits],
                       "probabilities": [row.double().numpy() for row in probabilities]}
    return Reference(f"transformers {version}", f"hf-{version}", outputs)


def compare_with_reference(reference: Reference, signature: Signature, batches: list[dict[str, np.ndarray]],
                           texts: list[list[int]], actual: list[list[np.ndarray]], gate: Gate) -> list[Check]:
    """Compare the exported head's outputs (one list per batch) with the reference, text by text.

    Args:
        reference: Reference outputs, one per verification text.
        signature: The exported interface.
        batches: Token batches the head ran on.
        texts: Indices into the reference's texts, per batch.
        actual: The head's outputs per batch, in signature order.
        gate: The fp32 thresholds.
    """
    checks = []
    sequence_length = max(batch[signature.input_names[0]].shape[1] for batch in batches)
    count = sum(len(indices) for indices in texts)
    for index, spec in enumerate(signature.outputs):
        pairs = []
        for batch, indices, outputs in zip(batches, texts, actual):
            for row, text_index in enumerate(indices):
                got = outputs[index][row].astype(np.float64)
                if got.ndim == 2:  # per-token outputs: only the real tokens
                    got = got[batch["attention_mask"][row].astype(bool)]
                pairs.append((reference.outputs[spec.name][text_index], got))
        shapes_match = all(want.shape == got.shape for want, got in pairs)
        if not shapes_match:
            checks.append(Check(f"ref {reference.label}", spec.name, count, sequence_length, float("inf"), None,
                                None, None, gate, False, reference.library))
            continue
        diff = max(float(np.max(np.abs(want - got))) for want, got in pairs)
        cosines = None
        if spec.labelled:
            agreement = float(np.mean(np.concatenate([np.atleast_1d(w.argmax(-1) == g.argmax(-1)).ravel()
                                                      for w, g in pairs])))
        else:
            agreement = None
            cosines = np.concatenate([row_cosines(w.reshape(1, -1), g.reshape(1, -1)) for w, g in pairs])
        passed = bool(
            (gate.atol is None or diff <= gate.atol)
            and (cosines is None or gate.min_cosine is None or cosines.min() >= gate.min_cosine)
        )
        checks.append(Check(
            f"ref {reference.label}", spec.name, count, sequence_length, diff,
            None if cosines is None else float(cosines.min()), None if cosines is None else float(cosines.mean()),
            agreement, gate, passed, reference.library,
        ))
    return checks
