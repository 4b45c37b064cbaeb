"""The contract between the stages: task names, tensor names, dtypes and per-task input/output specs.

The exporter writes models with these interfaces, the local server and the Docker image serve them from
:data:`CONTAINER_REPOSITORY`, and the client builds its requests from the same names. ``export``, ``server``
and ``client`` import it from here (downward); it imports numpy, tritonclient's ``model_config_pb2`` and
:mod:`tritonize.repo_format` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from tritonize.repo_format import image_preprocessing, multi_vector, tokenizer_encoding
from tritonize.repo_format.platforms import libtorch_output_name


class Task(str, Enum):
    """What an exported model returns."""

    FEATURE_EXTRACTION = "feature-extraction"
    TEXT_CLASSIFICATION = "text-classification"
    TOKEN_CLASSIFICATION = "token-classification"
    TEXT_RANKING = "text-ranking"
    SPARSE_EMBEDDING = "sparse-embedding"
    MULTI_VECTOR = "multi-vector"
    IMAGE_CLASSIFICATION = "image-classification"
    IMAGE_FEATURE_EXTRACTION = "image-feature-extraction"

    @classmethod
    def names(cls) -> list[str]:
        """All task names, for help texts and error messages."""
        return [task.value for task in cls]


#: Where the Triton container keeps the model repository (the Docker image mounts or copies it there).
CONTAINER_REPOSITORY = "/models"

#: Triton data type → numpy dtype, for the types this project moves over the wire.
NUMPY_DTYPES: dict[int, type] = {
    mc.TYPE_INT64: np.int64,
    mc.TYPE_INT32: np.int32,
    mc.TYPE_FP32: np.float32,
    mc.TYPE_FP16: np.float16,
    mc.TYPE_STRING: np.object_,
}

#: Name of a dynamic dimension in ONNX graphs, by position after the batch dimension.
SEQUENCE_AXIS = "sequence"
BATCH_AXIS = "batch"


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a model's interface, per batch item.

    Attributes:
        name: Public tensor name (in ONNX graphs, configs and client requests).
        dtype: Triton data type (``model_config_pb2.TYPE_*``).
        dims: Shape without the batch dimension; ``-1`` is dynamic (the token sequence).
        labelled: The last dimension indexes the model's labels (Triton's classification extension).
    """

    name: str
    dtype: int
    dims: tuple[int, ...]
    labelled: bool = False

    @property
    def numpy_dtype(self) -> type:
        """The numpy dtype that carries this tensor."""
        return NUMPY_DTYPES[self.dtype]

    @property
    def triton_dtype(self) -> str:
        """The dtype as the inference protocol spells it (``INT64``, ``FP32``, ``BYTES``)."""
        name = mc.DataType.Name(self.dtype).removeprefix("TYPE_")
        return "BYTES" if name == "STRING" else name

    def dynamic_axes(self) -> dict[int, str]:
        """ONNX dynamic axes: the batch axis and every ``-1`` dimension."""
        axes = {0: BATCH_AXIS}
        axes.update({i + 1: SEQUENCE_AXIS for i, dim in enumerate(self.dims) if dim == -1})
        return axes


#: What clients send to the ensemble: one UTF-8 text per batch item.
TEXT_INPUT = TensorSpec(tokenizer_encoding.TEXT_INPUT, mc.TYPE_STRING, (1,))

#: What clients send to a reranking ensemble: one (query, passage) pair per batch item.
PAIR_INPUTS = tuple(TensorSpec(name, mc.TYPE_STRING, (1,)) for name in tokenizer_encoding.PAIR_INPUTS)

#: What clients send to an image ensemble: one encoded image (JPEG, PNG, WebP, BMP, GIF …) per batch item.
IMAGE_INPUT = TensorSpec(image_preprocessing.IMAGE_INPUT, mc.TYPE_STRING, (1,))

#: Tasks whose ensembles take encoded images.
IMAGE_TASKS = (Task.IMAGE_CLASSIFICATION, Task.IMAGE_FEATURE_EXTRACTION)

#: Optional input of models with prompts: the prompt name per text (empty or absent: the default prompt).
PROMPT_NAME_INPUT = TensorSpec(tokenizer_encoding.PROMPT_NAME_INPUT, mc.TYPE_STRING, (1,))

#: Token tensors a tokenizer may produce, in the order models take them.
TOKEN_INPUT_NAMES = tokenizer_encoding.TOKEN_NAMES

#: Optional output of a one-step model: each text's (or pair's) token count, exactly as the tokenizer step counts
#: it (its attention mask's sum: prompt and special tokens included, after truncation). Computed only when a
#: request asks for it (the gateway's ``usage.prompt_tokens``); not a prediction, so clients leave it out.
TOKEN_COUNT = TensorSpec(tokenizer_encoding.TOKEN_COUNT_OUTPUT, mc.TYPE_INT64, (1,))

#: What the tokenizer adds for token classification: each token's character span in the text, and a mask that
#: is 1 for special tokens and padding (the positions that belong to no word of the text).
TOKEN_SPANS = (TensorSpec("offsets", mc.TYPE_INT64, (-1, 2)), TensorSpec("special_tokens_mask", mc.TYPE_INT64, (-1,)))

#: What a multi-vector ensemble returns per text: its kept token vectors packed into one item, and their count.
MULTI_VECTOR_OUTPUTS = (TensorSpec(multi_vector.VECTORS_OUTPUT, mc.TYPE_STRING, (1,)),
                        TensorSpec(multi_vector.COUNTS_OUTPUT, mc.TYPE_INT64, (1,)))

#: BGE-M3's ensemble adds each text's lexical weights (JSON: token id → weight) and its dense vector.
LEXICAL_WEIGHTS_OUTPUT = TensorSpec(multi_vector.LEXICAL_OUTPUT, mc.TYPE_STRING, (1,))


def m3_outputs(hidden_size: int, colbert_width: int) -> tuple[TensorSpec, ...]:
    """The BGE-M3 graph's outputs: dense vector, per-token weights, per-token ColBERT vectors (after ``[CLS]``)."""
    return (TensorSpec("embeddings", mc.TYPE_FP32, (hidden_size,)),
            TensorSpec(multi_vector.TOKEN_WEIGHTS, mc.TYPE_FP32, (-1,)),
            TensorSpec(multi_vector.TOKEN_VECTORS, mc.TYPE_FP32, (-1, colbert_width)))


#: Entities of one text, aggregated as transformers' token-classification pipeline does, as a JSON array.
ENTITIES_OUTPUT = TensorSpec("entities", mc.TYPE_STRING, (1,))


@dataclass(frozen=True)
class Signature:
    """The interface of one exported model: token tensors in, task tensors out.

    Attributes:
        task: The task the outputs serve.
        inputs: Token tensors (INT64, ``[-1]``), in the model's argument order.
        outputs: Task tensors, in the order the exported graph returns them.
    """

    task: Task
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        """Input tensor names in argument order."""
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Output tensor names in return order."""
        return [spec.name for spec in self.outputs]

    @property
    def text_inputs(self) -> tuple[TensorSpec, ...]:
        """What clients send to the ensemble: a text, a (query, passage) pair for ranking, or an encoded image."""
        if self.task in IMAGE_TASKS:
            return (IMAGE_INPUT,)
        return PAIR_INPUTS if self.task is Task.TEXT_RANKING else (TEXT_INPUT,)

    @property
    def token_spans(self) -> tuple[TensorSpec, ...]:
        """Extra tokenizer outputs the ensemble needs besides the model's inputs (token classification)."""
        return TOKEN_SPANS if self.task is Task.TOKEN_CLASSIFICATION else ()

    def output(self, name: str) -> TensorSpec:
        """The output called ``name``."""
        return next(spec for spec in self.outputs if spec.name == name)

    def torchscript_output_name(self, name: str) -> str:
        """The libtorch backend's name for an output: ``<name>__<index in the returned tuple>``."""
        return libtorch_output_name(name, self.output_names.index(name))

    @classmethod
    def build(cls, task: Task, input_names: list[str] | tuple[str, ...], hidden_size: int,
              num_labels: int, sparse_top_k: int = 0) -> Signature:
        """Derive the signature of ``task`` for a model taking ``input_names``.

        Args:
            task: What the exported graph returns.
            input_names: Token tensors the model and tokenizer share (subset of :data:`TOKEN_INPUT_NAMES`).
            hidden_size: Width of sentence embeddings (feature extraction).
            num_labels: Number of classes (classification tasks).
            sparse_top_k: (index, weight) pairs per text (sparse embeddings).
        """
        ordered = [name for name in TOKEN_INPUT_NAMES if name in input_names]
        inputs = tuple(TensorSpec(name, mc.TYPE_INT64, (-1,)) for name in ordered)
        if task is Task.FEATURE_EXTRACTION:
            outputs: tuple[TensorSpec, ...] = (TensorSpec("embeddings", mc.TYPE_FP32, (hidden_size,)),)
        elif task is Task.TEXT_CLASSIFICATION:
            outputs = (
                TensorSpec("logits", mc.TYPE_FP32, (num_labels,), labelled=True),
                TensorSpec("probabilities", mc.TYPE_FP32, (num_labels,), labelled=True),
            )
        elif task is Task.TEXT_RANKING:
            outputs = ranking_outputs(num_labels)
        elif task is Task.MULTI_VECTOR:  # one normalised vector per token position (ColBERT)
            outputs = (TensorSpec(multi_vector.TOKEN_VECTORS, mc.TYPE_FP32, (-1, hidden_size)),)
        elif task is Task.SPARSE_EMBEDDING:
            outputs = (TensorSpec("indices", mc.TYPE_INT64, (sparse_top_k,)),
                       TensorSpec("weights", mc.TYPE_FP32, (sparse_top_k,)))
        else:
            outputs = (
                TensorSpec("logits", mc.TYPE_FP32, (-1, num_labels), labelled=True),
                TensorSpec("probabilities", mc.TYPE_FP32, (-1, num_labels), labelled=True),
            )
        return cls(task=task, inputs=inputs, outputs=outputs)


def image_signature(task: Task, size: tuple[int, int], num_labels: int = 0, width: int = 0) -> Signature:
    """The interface of an image model: ``pixel_values`` (FP32 ``[3, height, width]``, one shape) in.

    Args:
        task: Image classification (``logits``, ``probabilities``) or image embeddings (``embeddings``).
        size: (height, width) of every preprocessed image.
        num_labels: Number of classes (classification).
        width: Width of the embeddings (feature extraction).
    """
    inputs = (TensorSpec(image_preprocessing.PIXEL_VALUES, mc.TYPE_FP32, (3, *size)),)
    if task is Task.IMAGE_CLASSIFICATION:
        outputs: tuple[TensorSpec, ...] = (
            TensorSpec("logits", mc.TYPE_FP32, (num_labels,), labelled=True),
            TensorSpec("probabilities", mc.TYPE_FP32, (num_labels,), labelled=True),
        )
    else:
        outputs = (TensorSpec("embeddings", mc.TYPE_FP32, (width,)),)
    return Signature(task=task, inputs=inputs, outputs=outputs)


def ranking_outputs(num_labels: int) -> tuple[TensorSpec, ...]:
    """A reranker's outputs: one relevance ``score`` per pair, or ``logits`` and ``scores`` per label."""
    if num_labels == 1:
        return (TensorSpec("scores", mc.TYPE_FP32, (1,)),)
    return (TensorSpec("logits", mc.TYPE_FP32, (num_labels,), labelled=True),
            TensorSpec("scores", mc.TYPE_FP32, (num_labels,), labelled=True))
