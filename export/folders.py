"""Assemble the model folders of one export: ensemble, tokenizer, post-processing steps and artifacts."""

from __future__ import annotations

from pathlib import Path

from export.load_model import LoadedModel
from export.python_models import (
    entities_model,
    one_step_model,
    sparse_tokens_model,
    tokenizer_model,
    vectors_model,
    zero_shot_model,
)
from export.repository import ModelFolder
from export.served_tokenizer import colbert_tokenizer_parameters, tokenizer_parameters
from export.settings import ExportSettings, Format
from export.signature import Task
from export.tasks.multi_vector_check import document_rule
from export.tasks.zero_shot import zero_shot_entailment
from export.triton_config import (
    ModelNames,
    artifact_config,
    ensemble_config,
    entities_config,
    multi_vector_ensemble_config,
    one_step_config,
    tokenizer_config,
    vectors_config,
    vocabulary_config,
    warmup_files,
    zero_shot_config,
)
from server.adapters import batching
from tritonize.repo_format import multi_vector, nli_zero_shot, tokenizer_encoding
from tritonize.repo_format.files import (
    BATCHING_FILENAME,
    LABELS_FILENAME,
    MULTI_VECTOR_FILENAME,
    NLI_ZERO_SHOT_FILENAME,
    PYTHON_MODEL_FILENAME,
    TOKENIZER_ENCODING_FILENAME,
    TOKENIZER_FILENAME,
)


def model_folders(names: ModelNames, settings: ExportSettings, loaded: LoadedModel, ensemble_format: Format,
                  artifacts: dict[Format, Path], tokenizer_json: str, one_step: bool = False) -> list[ModelFolder]:
    """Every model folder the export writes, configs built from the one signature.

    ``one_step``: the one-step model takes the ensemble's place and the tokenizer's and ONNX model's (see
    :mod:`export.serving`); other artifacts are still written as their own models.
    """
    signature = loaded.signature
    if one_step:
        return one_step_folders(names, settings, loaded, artifacts, tokenizer_json)
    if signature.task is Task.MULTI_VECTOR:
        return multi_vector_folders(names, settings, loaded, ensemble_format, artifacts, tokenizer_json)
    labels = loaded.info.labels
    label_files = {LABELS_FILENAME: ("\n".join(labels) + "\n").encode()} if labels else {}
    has_labels = bool(labels)
    prompts = bool(loaded.info.st_folder and any(loaded.info.st_folder.prompts.prompts.values()))
    backend_files = {PYTHON_MODEL_FILENAME: Path(tokenizer_model.__file__).read_bytes(),
                     TOKENIZER_ENCODING_FILENAME: Path(tokenizer_encoding.__file__).read_bytes()}
    models = [
        ModelFolder(
            ensemble_config(names, ensemble_format, signature, settings, has_labels, prompts),
            root_files=label_files
        ),
        ModelFolder(
            tokenizer_config(names, signature, settings,
                             tokenizer_parameters(loaded, settings.batching.pad_to_multiple_of), prompts),
            version_files={**backend_files, TOKENIZER_FILENAME: tokenizer_json.encode()},
        ),
    ]
    # The steps after the model read the same tokenizer.json, through the same encoding module.
    step_files = {TOKENIZER_ENCODING_FILENAME: backend_files[TOKENIZER_ENCODING_FILENAME],
                  TOKENIZER_FILENAME: tokenizer_json.encode()}
    if signature.task is Task.SPARSE_EMBEDDING:
        models.append(ModelFolder(
            vocabulary_config(names, signature, settings),
            version_files={PYTHON_MODEL_FILENAME: Path(sparse_tokens_model.__file__).read_bytes(), **step_files},
        ))
    if signature.token_spans:
        models.append(ModelFolder(
            entities_config(names, signature, settings, labels),
            version_files={PYTHON_MODEL_FILENAME: Path(entities_model.__file__).read_bytes(), **step_files},
        ))
    entailment = zero_shot_entailment(loaded.info)
    if entailment is not None:
        models.append(ModelFolder(
            zero_shot_config(names, settings, entailment),
            version_files={PYTHON_MODEL_FILENAME: Path(zero_shot_model.__file__).read_bytes(),
                           NLI_ZERO_SHOT_FILENAME: Path(nli_zero_shot.__file__).read_bytes()},
        ))
    for fmt, path in artifacts.items():
        files: dict[str, Path | bytes] = {p.name: p for p in path.parent.iterdir()}
        models.append(
            ModelFolder(artifact_config(names, fmt, signature, settings, has_labels), version_files=files,
                        root_files=label_files)
        )
    return models


def one_step_folders(names: ModelNames, settings: ExportSettings, loaded: LoadedModel,
                     artifacts: dict[Format, Path], tokenizer_json: str) -> list[ModelFolder]:
    """The one-step model ``NAME`` (tokenizer and ONNX Runtime in one Python-backend model), other artifacts.

    Its version folder holds ``model.py``, the tokenizer-encoding and batching modules, ``tokenizer.json`` and
    ``model.onnx`` (with its external data file, if any); no ``NAME_tokenizer`` or ``NAME_onnx`` is written.
    """
    signature, labels = loaded.signature, loaded.info.labels
    prompts = bool(loaded.info.st_folder and any(loaded.info.st_folder.prompts.prompts.values()))
    label_files = {LABELS_FILENAME: ("\n".join(labels) + "\n").encode()} if labels else {}
    onnx_files: dict[str, Path | bytes] = {p.name: p for p in artifacts["onnx"].parent.iterdir()}
    version_files: dict[str, Path | bytes] = {
        **onnx_files,
        PYTHON_MODEL_FILENAME: Path(one_step_model.__file__).read_bytes(),
        TOKENIZER_ENCODING_FILENAME: Path(tokenizer_encoding.__file__).read_bytes(),
        BATCHING_FILENAME: Path(batching.__file__).read_bytes(),
        TOKENIZER_FILENAME: tokenizer_json.encode(),
    }
    config = one_step_config(names, signature, settings,
                             tokenizer_parameters(loaded, settings.batching.pad_to_multiple_of), bool(labels), prompts)
    models = [ModelFolder(config, version_files=version_files, root_files={**label_files, **warmup_files(signature)})]
    for fmt, path in artifacts.items():
        if fmt != "onnx":
            files: dict[str, Path | bytes] = {p.name: p for p in path.parent.iterdir()}
            models.append(ModelFolder(artifact_config(names, fmt, signature, settings, bool(labels)),
                                      version_files=files, root_files=label_files))
    return models


def multi_vector_folders(names: ModelNames, settings: ExportSettings, loaded: LoadedModel, ensemble_format: Format,
                         artifacts: dict[Format, Path], tokenizer_json: str) -> list[ModelFolder]:
    """A ColBERT export: documents (``NAME``) and queries (``NAME_query``), each its tokenizer and vectors step.

    Both ensembles call the one artifact; they differ in how texts are tokenized (marker, length, query
    expansion) and which token vectors are kept (documents drop padding and skip-list tokens).
    """
    signature, colbert = loaded.signature, loaded.info.colbert
    if loaded.info.m3:
        return m3_folders(names, settings, loaded, ensemble_format, artifacts, tokenizer_json)
    tokenizer_files = {PYTHON_MODEL_FILENAME: Path(tokenizer_model.__file__).read_bytes(),
                       TOKENIZER_ENCODING_FILENAME: Path(tokenizer_encoding.__file__).read_bytes(),
                       TOKENIZER_FILENAME: tokenizer_json.encode()}
    vectors_files = {PYTHON_MODEL_FILENAME: Path(vectors_model.__file__).read_bytes(),
                     MULTI_VECTOR_FILENAME: Path(multi_vector.__file__).read_bytes()}
    skiplist = tuple(sorted(document_rule(loaded)[1]))
    pad = settings.batching.pad_to_multiple_of
    artifact = names.artifact(ensemble_format)
    models = []
    for side, query in ((names, False), (names.query, True)):
        keep = multi_vector.KEEP_ALL if query and colbert.query_expansion else multi_vector.KEEP_ATTENDED
        models += [
            ModelFolder(multi_vector_ensemble_config(side, artifact, ensemble_format, signature, settings)),
            ModelFolder(tokenizer_config(side, signature, settings,
                                         colbert_tokenizer_parameters(loaded, pad, query=query)),
                        version_files=tokenizer_files),
            ModelFolder(vectors_config(side.vectors, signature, settings, keep, () if query else skiplist),
                        version_files=vectors_files),
        ]
    for fmt, path in artifacts.items():
        files: dict[str, Path | bytes] = {p.name: p for p in path.parent.iterdir()}
        models.append(ModelFolder(artifact_config(names, fmt, signature, settings, False), version_files=files))
    return models


def m3_folders(names: ModelNames, settings: ExportSettings, loaded: LoadedModel, ensemble_format: Format,
               artifacts: dict[Format, Path], tokenizer_json: str) -> list[ModelFolder]:
    """A BGE-M3 export: one ensemble ``NAME`` returning the dense vector, lexical weights and ColBERT vectors.

    Lexical weights leave out the tokens FlagEmbedding leaves out: its cls, eos, pad and unk tokens.
    """
    tokenizer = loaded.tokenizer
    unused = tuple(sorted({int(tokenizer.convert_tokens_to_ids(tokenizer.special_tokens_map[name]))
                           for name in ("cls_token", "eos_token", "pad_token", "unk_token")
                           if name in tokenizer.special_tokens_map}))
    models = [
        ModelFolder(multi_vector_ensemble_config(names, names.artifact(ensemble_format), ensemble_format,
                                                 loaded.signature, settings)),
        ModelFolder(tokenizer_config(names, loaded.signature, settings,
                                     tokenizer_parameters(loaded, settings.batching.pad_to_multiple_of)),
                    version_files={PYTHON_MODEL_FILENAME: Path(tokenizer_model.__file__).read_bytes(),
                                   TOKENIZER_ENCODING_FILENAME: Path(tokenizer_encoding.__file__).read_bytes(),
                                   TOKENIZER_FILENAME: tokenizer_json.encode()}),
        ModelFolder(vectors_config(names.vectors, loaded.signature, settings, multi_vector.KEEP_AFTER_FIRST, (),
                                   unused),
                    version_files={PYTHON_MODEL_FILENAME: Path(vectors_model.__file__).read_bytes(),
                                   MULTI_VECTOR_FILENAME: Path(multi_vector.__file__).read_bytes()}),
    ]
    for fmt, path in artifacts.items():
        files: dict[str, Path | bytes] = {p.name: p for p in path.parent.iterdir()}
        models.append(ModelFolder(artifact_config(names, fmt, loaded.signature, settings, False), version_files=files))
    return models
