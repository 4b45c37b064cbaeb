"""Token-exactness of onnxruntime-extensions' in-graph tokenizer against the model's own tokenizer.

Runs in its own venv (:data:`benchmarks.peer_envs.ORTX_ENV`: onnxruntime-extensions, onnxruntime, transformers),
so it imports nothing from this project::

    <venv>/bin/python benchmarks/ortx_probe.py TEXTS.json FOLDER [FOLDER ...]

For each tokenizer folder: ``gen_processing_models`` turns the Hugging Face tokenizer into an ONNX
pre-processing graph (a string input, token ids out), ONNX Runtime runs it with the extensions' custom-op
library registered, and every probe text's ids are compared with ``AutoTokenizer``'s (special tokens added, no
truncation). Prints one JSON object per folder: texts compared, texts that differ, the first difference, or the
error that stopped the conversion.
"""

from __future__ import annotations

import json
import sys


def probe(folder: str, texts: list[str]) -> dict[str, object]:
    """Compare the in-graph tokenizer with ``AutoTokenizer`` on ``texts``."""
    import numpy as np
    import onnxruntime as ort
    from onnxruntime_extensions import gen_processing_models, get_library_path
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    found: dict[str, object] = {"folder": folder, "tokenizer": type(tokenizer).__name__, "texts": len(texts)}
    try:
        graph = gen_processing_models(tokenizer, pre_kwargs={})[0]
    except Exception as error:  # noqa: BLE001 - the converter's refusal is the finding
        return {**found, "error": f"gen_processing_models: {type(error).__name__}: {error}"[:300]}
    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    try:
        session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001
        return {**found, "error": f"session: {type(error).__name__}: {error}"[:300]}
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    differ, first, which = 0, None, []
    for index, text in enumerate(texts):
        want = tokenizer(text, add_special_tokens=True)["input_ids"]
        try:
            got_all = session.run(None, {name: np.array([text])})
            got = np.asarray(got_all[outputs.index("input_ids")] if "input_ids" in outputs else got_all[0])
            got = got.reshape(-1).tolist()
        except Exception as error:  # noqa: BLE001
            got = f"{type(error).__name__}: {error}"[:200]
        if got != want:
            differ += 1
            which.append(index)
            if first is None:
                first = {"index": index, "text": text[:80], "want": want[:24],
                         "got": got[:24] if isinstance(got, list) else got}
    return {**found, "outputs": outputs, "differ": differ, "which": which[:20], "first": first}


def main() -> None:
    """Probe every folder given on the command line; one JSON line each."""
    with open(sys.argv[1], encoding="utf-8") as source:
        texts = json.load(source)
    for folder in sys.argv[2:]:
        print(json.dumps(probe(folder, texts), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
