"""The tokenizer the Triton tokenizer model will run: its parameters, and proof it tokenizes as transformers does."""

from __future__ import annotations

from tokenizers import Tokenizer

from export.errors import UnsupportedModelError, VerificationError
from export.load_model import LoadedModel
from export.signature import Task
from export.tasks.rerank import check_pair_tokenizer
from export.verify import VERIFICATION_TEXTS
from tritonize.repo_format.tokenizer_encoding import TextEncoder, TokenizerParameters


def tokenizer_parameters(loaded: LoadedModel, pad_to_multiple_of: int) -> TokenizerParameters:
    """The tokenizer model's settings: limits, the tokenizer's padding and truncation side, the prompts."""
    tokenizer = loaded.tokenizer
    st_folder = loaded.info.st_folder
    prompts = st_folder.prompts if st_folder is not None and st_folder.prompts.prompts else None
    return TokenizerParameters(
        loaded.max_length, pad_to_multiple_of, loaded.pad_token_id, tokenizer.padding_side, tokenizer.truncation_side,
        dict(prompts.prompts) if prompts else {}, (prompts.default_name or None) if prompts else None,
    )


def named_prompts(loaded: LoadedModel) -> list[str]:
    """Prompts a request can choose that change the input: non-empty ones other than the default."""
    st_folder = loaded.info.st_folder
    if st_folder is None:
        return []
    prompts = st_folder.prompts
    return [name for name, text in sorted(prompts.prompts.items()) if text and name != prompts.default_name]


def text_encoder(loaded: LoadedModel, tokenizer_json: str, pad_to_multiple_of: int) -> TextEncoder:
    """The encoder the served tokenizer model will build, from the same tokenizer.json and parameters."""
    return TextEncoder.with_parameters(Tokenizer.from_str(tokenizer_json), loaded.signature.input_names,
                                       tokenizer_parameters(loaded, pad_to_multiple_of))


def check_served_tokenizer(loaded: LoadedModel, encoder: TextEncoder) -> None:
    """The served tokenizer must produce the same tokens as transformers' tokenizer, of pairs or of texts.

    Texts are checked with each prompt that changes them; pairs take no prompt (as CrossEncoder).

    Raises:
        VerificationError: A verification text or pair gets other tokens.
    """
    if loaded.info.task is Task.TEXT_RANKING:
        if not check_pair_tokenizer(loaded.tokenizer, encoder, loaded.max_length):
            raise VerificationError("The tokenizer model disagrees with transformers' tokenizer on a verification "
                                    "pair. Nothing was written.", None)
        return
    for name in [None, *named_prompts(loaded)]:
        for index, text in enumerate(encoder.with_prompts(list(VERIFICATION_TEXTS), [name] * len(VERIFICATION_TEXTS))):
            expected = loaded.tokenizer(text, truncation=True, max_length=loaded.max_length)["input_ids"]
            if encoder.tokenizer.encode(text).ids != list(expected):
                prompt = f" with prompt '{name}'" if name else ""
                raise VerificationError(
                    f"The tokenizer model disagrees with transformers' tokenizer on verification text {index}"
                    f"{prompt}. Nothing was written.",
                    None,
                )


def check_prompt_pooling(loaded: LoadedModel) -> None:
    """Pooling that excludes prompt tokens needs each text's prompt length, which the graph does not take.

    Raises:
        UnsupportedModelError: The folder pools without its prompt tokens and has prompts.
    """
    st_folder = loaded.info.st_folder
    if st_folder is None or st_folder.pooling.include_prompt:
        return
    if any(text for text in st_folder.prompts.prompts.values()):
        raise UnsupportedModelError(
            "This model pools without its prompt tokens (Pooling include_prompt: false) and has prompts: "
            "the exported graph cannot exclude them yet. Nothing was written."
        )
