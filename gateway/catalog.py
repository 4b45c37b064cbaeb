"""What each served ensemble (or one-step model) is for, read from its config: embeddings, rerank, or another task.

Pure logic over ``ModelConfig`` protobufs (the engine fetches them from Triton), so it is unit-tested without a
server. Tensor names follow the exporter's contract in :mod:`tritonize.repo_format`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tritonclient.grpc import model_config_pb2 as mc

from client.token_lengths import TokenizerStep, tokenizer_step
from tritonize.contract import TOKEN_COUNT
from tritonize.repo_format.platforms import ENSEMBLE_PLATFORM
from tritonize.repo_format.tokenizer_encoding import PAIR_INPUTS, PROMPT_NAME_INPUT, TEXT_INPUT
from tritonize.repo_format.tokenizer_folder import is_one_step, tokenizer_parameters

#: The dense sentence-embedding output of a feature-extraction ensemble.
EMBEDDINGS_OUTPUT = "embeddings"
#: A reranker's output: one relevance score per (query, passage) pair.
SCORES_OUTPUT = "scores"
EMBEDDING_TASK = "text-embedding"
RERANK_TASK = "text-ranking"


@dataclass(frozen=True)
class ServedModel:
    """One served ensemble, as the gateway uses it.

    Attributes:
        name: The ensemble's name (the API's ``model``).
        task: ``text-embedding``, ``text-ranking``, or another task (listed, not served by the gateway).
        max_batch_size: Texts (or pairs) per request Triton takes; the gateway splits larger requests.
        dimensions: Width of the embeddings (0 for other tasks).
        prompts: Prompt names the model knows (sentence-transformers ``prompts``), empty when it has none.
        default_prompt: The prompt applied when none is named.
        takes_prompt: The ensemble has the optional ``PROMPT_NAME`` input.
        tokenizer: The ensemble's tokenizer step (for counting tokens through Triton), if found.
        counts_tokens: The model returns each text's token count when asked (a one-step model's ``token_count``),
            in the same call as its embeddings.
    """

    name: str
    task: str
    max_batch_size: int
    dimensions: int = 0
    prompts: tuple[str, ...] = ()
    default_prompt: str | None = None
    takes_prompt: bool = False
    tokenizer: TokenizerStep | None = field(default=None, compare=False)
    counts_tokens: bool = False

    def to_record(self) -> dict[str, object]:
        """The OpenAI model object, with the task and limits as extra fields."""
        record: dict[str, object] = {"id": self.name, "object": "model", "created": 0, "owned_by": "tritonize",
                                     "task": self.task, "max_batch_size": self.max_batch_size}
        if self.dimensions:
            record["dimensions"] = self.dimensions
        if self.prompts:
            record["prompts"] = list(self.prompts)
            record["default_prompt"] = self.default_prompt
        return record


def classify(config: mc.ModelConfig, config_of: Callable[[str], mc.ModelConfig]) -> ServedModel | None:
    """The served model an ensemble or one-step config describes; ``None`` for a model that is neither.

    A one-step model (tokenizer inside) is its own tokenizer step: its config holds the tokenizer's parameters.

    Args:
        config: The model's config.
        config_of: A step model's config by name (for the tokenizer step and its prompts).
    """
    one_step = is_one_step(config)
    if config.platform != ENSEMBLE_PLATFORM and not one_step:
        return None
    required = [t for t in config.input if not t.optional]
    names = tuple(t.name for t in required)
    strings = all(t.data_type == mc.TYPE_STRING for t in required)
    outputs = {t.name: t for t in config.output}
    batch = max(config.max_batch_size, 1)
    takes_prompt = any(t.name == PROMPT_NAME_INPUT for t in config.input)
    step = None
    if strings and names == (TEXT_INPUT,):
        step = TokenizerStep(config.name, TEXT_INPUT, batch) if one_step else _tokenizer(config, config_of)
    prompts, default = _prompts(step, lambda name: config if name == config.name else config_of(name))
    if names == (TEXT_INPUT,) and strings and EMBEDDINGS_OUTPUT in outputs:
        dims = list(outputs[EMBEDDINGS_OUTPUT].dims)
        width = dims[-1] if len(dims) == 1 and dims[0] > 0 and config.max_batch_size > 0 else 0
        if width:
            counts = one_step and TOKEN_COUNT.name in outputs
            return ServedModel(config.name, EMBEDDING_TASK, batch, width, prompts, default, takes_prompt, step, counts)
    if names == PAIR_INPUTS and strings and list(getattr(outputs.get(SCORES_OUTPUT), "dims", [])) == [1]:
        return ServedModel(config.name, RERANK_TASK, batch)
    return ServedModel(config.name, _other_task(outputs), batch, prompts=prompts, default_prompt=default,
                       takes_prompt=takes_prompt)


def build_catalog(configs: Mapping[str, mc.ModelConfig]) -> dict[str, ServedModel]:
    """Every ready ensemble among ``configs`` (model name → config), by name."""
    models = (classify(config, configs.__getitem__) for config in configs.values())
    return {model.name: model for model in models if model is not None}


def split_alias(model: str) -> tuple[str, str | None]:
    """``NAME:prompt`` → (``NAME``, ``prompt``); a name without a colon has no prompt."""
    name, sep, prompt = model.partition(":")
    return (name, prompt) if sep and prompt else (model, None)


def _tokenizer(config: mc.ModelConfig, config_of: Callable[[str], mc.ModelConfig]) -> TokenizerStep | None:
    """The step that tokenizes ``TEXT`` and returns attention masks, if its config is at hand.

    A prompted ensemble's optional ``PROMPT_NAME`` input is left out of the search: ``TEXT`` is its text input.
    """
    text_only = mc.ModelConfig()
    text_only.CopyFrom(config)
    del text_only.input[:]
    text_only.input.extend(t for t in config.input if not t.optional)
    try:
        return tokenizer_step(text_only, config_of)
    except KeyError:
        return None


def _prompts(step: TokenizerStep | None, config_of: Callable[[str], mc.ModelConfig]
             ) -> tuple[tuple[str, ...], str | None]:
    """The tokenizer step's prompt names and default prompt, from its config parameters."""
    if step is None:
        return (), None
    try:
        parameters = tokenizer_parameters(config_of(step.model))
    except (KeyError, ValueError):
        return (), None
    return tuple(sorted(parameters.prompts)), parameters.default_prompt_name


def _other_task(outputs: Mapping[str, mc.ModelOutput]) -> str:
    """A name for the task of an ensemble the gateway does not serve, from its outputs."""
    if "entities" in outputs:
        return "token-classification"
    if "indices" in outputs and "weights" in outputs:
        return "sparse-embedding"
    if "probabilities" in outputs:
        return "text-classification"
    if SCORES_OUTPUT in outputs:
        return "pair-classification"
    if EMBEDDINGS_OUTPUT in outputs:
        return "feature-extraction"
    return "other"
