"""Tiny models of every tested family (hidden 32, 2 layers, small vocabularies), built offline from configs.

Tokenizers come from the `tokenizers` library in each family's shape (WordPiece with [CLS]/[SEP], RoBERTa-style
byte-level BPE, decoder BPE with BOS/EOS as the family's tokenizer adds them); sentence-transformers folders are
written by sentence-transformers itself from its modules.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from tests.support.tiny_models import LABELS, WORDS, wordpiece_tokenizer

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
MAX_LENGTH = 64


@dataclass(frozen=True)
class Family:
    """One tested family and task.

    Attributes:
        name: Test id and model base name.
        model_class: transformers class saved (its name lands in config.json ``architectures``).
        config: Builds the config from the tokenizer's special ids.
        tokenizer: ``wordpiece``, ``roberta`` (byte-level BPE, ``<s> … </s>``), ``decoder`` (BPE + EOS),
            ``bos-eos`` (BPE, ``<bos> … <eos>``) or ``t5`` (BPE + ``</s>``).
        token_types: The tokenizer returns token_type_ids.
        padding_side: Side the tokenizer pads on.
        st_modules: sentence-transformers modules after the Transformer; empty for a plain transformers folder.
        prompts: sentence-transformers prompts; the first is the default.
        max_seq_length: sentence-transformers' limit (below the model's) or ``None``.
    """

    name: str
    model_class: str
    config: Callable[[dict[str, int], int], object]
    tokenizer: str = "wordpiece"
    token_types: bool = True
    padding_side: str = "right"
    st_modules: tuple[tuple, ...] = ()
    prompts: dict[str, str] = field(default_factory=dict)
    max_seq_length: int | None = None

    @property
    def task(self) -> str:
        """The task the export detects."""
        return "text-classification" if self.model_class.endswith("ForSequenceClassification") else \
            "feature-extraction"


def _cfg(class_name: str, **fixed: object) -> Callable[[dict[str, int], int], object]:
    def build(ids: dict[str, int], vocab_size: int) -> object:
        import transformers

        labels = {"id2label": dict(enumerate(LABELS)), "label2id": {label: i for i, label in enumerate(LABELS)}}
        return getattr(transformers, class_name)(vocab_size=vocab_size, **{**ids, **labels, **fixed})
    return build


_ROBERTA = {**SMALL, "max_position_embeddings": MAX_LENGTH + 2, "type_vocab_size": 1}
_BERT = {**SMALL, "max_position_embeddings": MAX_LENGTH}
_DECODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "intermediate_size": 37, "max_position_embeddings": 128}
_MEAN_NORM = (("Pooling", "mean"), ("Normalize",))

FAMILIES: tuple[Family, ...] = (
    Family("bert", "BertModel", _cfg("BertConfig", **_BERT), st_modules=_MEAN_NORM, max_seq_length=48),
    Family("albert", "AlbertModel", _cfg("AlbertConfig", embedding_size=16, **_BERT), st_modules=_MEAN_NORM),
    Family("camembert", "CamembertModel", _cfg("CamembertConfig", **_ROBERTA), tokenizer="roberta",
           token_types=False, st_modules=_MEAN_NORM),
    Family("deberta", "DebertaModel", _cfg("DebertaConfig", **_BERT, type_vocab_size=2), st_modules=_MEAN_NORM),
    Family("deberta-v2", "DebertaV2Model",
           _cfg("DebertaV2Config", **_BERT, relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=16,
                position_biased_input=False, type_vocab_size=2), st_modules=(("Pooling", "cls"),)),
    Family("distilbert", "DistilBertModel",
           _cfg("DistilBertConfig", dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=MAX_LENGTH),
           token_types=False, st_modules=(("Pooling", "max"),)),
    Family("electra", "ElectraModel", _cfg("ElectraConfig", embedding_size=32, **_BERT),
           st_modules=(("Pooling", "mean_sqrt_len_tokens"),)),
    Family("mpnet", "MPNetModel", _cfg("MPNetConfig", **{**_ROBERTA, "type_vocab_size": None}), tokenizer="roberta",
           token_types=False, st_modules=_MEAN_NORM),
    Family("roberta", "RobertaModel", _cfg("RobertaConfig", **_ROBERTA), tokenizer="roberta", token_types=False,
           st_modules=(("Pooling", "weightedmean"),)),
    Family("xlm-roberta", "XLMRobertaModel", _cfg("XLMRobertaConfig", **_ROBERTA), tokenizer="roberta",
           token_types=False, st_modules=(("Pooling", "mean"), ("Dense", 16, "Tanh"), ("Normalize",))),
    # LaBSE / sentence-t5 shape: pooling → Dense → Normalize; the Dense layer changes the width.
    Family("bert-dense", "BertModel", _cfg("BertConfig", **_BERT),
           st_modules=(("Pooling", "cls"), ("Dense", 24, "Tanh"), ("LayerNorm",), ("Normalize",))),
    Family("modernbert", "ModernBertModel",
           _cfg("ModernBertConfig", **SMALL, max_position_embeddings=MAX_LENGTH, global_attn_every_n_layers=2,
                local_attention=16), token_types=False, st_modules=_MEAN_NORM),
    Family("modernbert-classifier", "ModernBertForSequenceClassification",
           _cfg("ModernBertConfig", **SMALL, max_position_embeddings=MAX_LENGTH, global_attn_every_n_layers=2,
                local_attention=16), token_types=False),
    # Qwen3-Embedding shape: left padding, EOS appended, last-token pooling, instruction prompt for queries.
    Family("qwen3", "Qwen3Model", _cfg("Qwen3Config", **_DECODER), tokenizer="decoder", token_types=False,
           padding_side="left", st_modules=(("Pooling", "lasttoken"), ("Normalize",)),
           prompts={"query": "Instruct: find the review\nQuery: ", "document": ""}, max_seq_length=MAX_LENGTH),
    Family("qwen3-right", "Qwen3Model", _cfg("Qwen3Config", **_DECODER), tokenizer="decoder", token_types=False,
           st_modules=(("Pooling", "lasttoken"), ("Normalize",)), max_seq_length=MAX_LENGTH),
    Family("qwen2", "Qwen2Model", _cfg("Qwen2Config", **{k: v for k, v in _DECODER.items() if k != "head_dim"}),
           tokenizer="decoder", token_types=False, padding_side="left",
           st_modules=(("Pooling", "lasttoken"), ("Normalize",)), max_seq_length=MAX_LENGTH),
    Family("mistral", "MistralModel", _cfg("MistralConfig", **_DECODER, sliding_window=None), tokenizer="bos-eos",
           token_types=False, padding_side="left", st_modules=(("Pooling", "lasttoken"), ("Normalize",)),
           prompts={"query": "query: ", "passage": "passage: "}, max_seq_length=MAX_LENGTH),
    # EmbeddingGemma shape: bidirectional Gemma3 → mean → Dense → Dense → Normalize.
    Family("gemma3", "Gemma3TextModel",
           _cfg("Gemma3TextConfig", **_DECODER, sliding_window=16, use_bidirectional_attention=True),
           tokenizer="bos-eos", token_types=False,
           st_modules=(("Pooling", "mean"), ("Dense", 48, "Identity"), ("Dense", 24, "Identity"), ("Normalize",)),
           prompts={"query": "task: search result | query: ", "document": "title: none | text: "},
           max_seq_length=MAX_LENGTH),
    # sentence-t5 shape: T5 encoder → mean → Dense (no bias, identity) → Normalize.
    Family("t5", "T5EncoderModel",
           _cfg("T5Config", d_model=32, d_kv=16, d_ff=37, num_layers=2, num_heads=2, decoder_start_token_id=0,
                relative_attention_num_buckets=8),
           tokenizer="t5", token_types=False,
           st_modules=(("Pooling", "mean"), ("Dense", 16, "Identity"), ("Normalize",)), max_seq_length=MAX_LENGTH),
    Family("mobilebert", "MobileBertModel",
           _cfg("MobileBertConfig", **_BERT, embedding_size=16, intra_bottleneck_size=16, true_hidden_size=16,
                num_feedforward_networks=1), st_modules=_MEAN_NORM),
    Family("roformer", "RoFormerModel", _cfg("RoFormerConfig", embedding_size=32, **_BERT), st_modules=_MEAN_NORM),
    Family("ernie", "ErnieModel", _cfg("ErnieConfig", **_BERT), st_modules=(("Pooling", "cls"), ("Normalize",))),
    Family("convbert", "ConvBertModel", _cfg("ConvBertConfig", embedding_size=32, **_BERT, conv_kernel_size=3),
           st_modules=_MEAN_NORM),
    Family("data2vec-text", "Data2VecTextModel", _cfg("Data2VecTextConfig", **_ROBERTA), tokenizer="roberta",
           token_types=False, st_modules=_MEAN_NORM),
    Family("xlm-roberta-classifier", "XLMRobertaForSequenceClassification", _cfg("XLMRobertaConfig", **_ROBERTA),
           tokenizer="roberta", token_types=False),
    Family("deberta-v2-classifier", "DebertaV2ForSequenceClassification",
           _cfg("DebertaV2Config", **_BERT, relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=16,
                type_vocab_size=2)),
)


def _bpe(specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([" ".join(WORDS)] * 20, trainer)
    return tok


def build_tokenizer(kind: str, padding_side: str, token_types: bool) -> tuple[object, dict[str, int]]:
    """A fast transformers tokenizer of ``kind`` and the special ids its config needs."""
    from transformers import PreTrainedTokenizerFast

    names = ["input_ids", "token_type_ids", "attention_mask"] if token_types else ["input_ids", "attention_mask"]
    if kind == "wordpiece":
        tok = wordpiece_tokenizer()
        specials = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                    "mask_token": "[MASK]"}
        ids = {"pad_token_id": 0}
    elif kind == "roberta":
        tok = _bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        specials = {"bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
                    "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}
        ids = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}
    elif kind == "decoder":  # Qwen: no BOS, <|endoftext|> appended and used for padding
        tok = _bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        tok.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>",
                                                           special_tokens=[("<|endoftext|>", 0)])
        specials = {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
        ids = {"pad_token_id": 0, "eos_token_id": 0, "bos_token_id": 0}
    elif kind == "bos-eos":  # Mistral, Gemma: BOS first, EOS last, a separate pad token
        tok = _bpe(["<pad>", "<eos>", "<bos>", "<unk>"])
        tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>",
                                                           special_tokens=[("<bos>", 2), ("<eos>", 1)])
        specials = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
        ids = {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}
    elif kind == "t5":  # T5: </s> appended, <pad> = 0
        tok = _bpe(["<pad>", "</s>", "<unk>"])
        tok.normalizer = normalizers.NFKC()
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        specials = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
        ids = {"pad_token_id": 0, "eos_token_id": 1}
    else:
        raise ValueError(kind)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_LENGTH, padding_side=padding_side,
                                        model_input_names=names, **specials)
    return tokenizer, ids


def make_family(folder: Path, family: Family) -> Path:
    """Write ``family``'s tiny model into ``folder``: a transformers folder, or a sentence-transformers one."""
    import transformers

    torch.manual_seed(0)
    tokenizer, ids = build_tokenizer(family.tokenizer, family.padding_side, family.token_types)
    config = family.config(ids, len(tokenizer))
    model = getattr(transformers, family.model_class)(config).eval()
    hf_folder = folder if not family.st_modules else folder.parent / f".{folder.name}-hf"
    model.save_pretrained(hf_folder)
    tokenizer.save_pretrained(hf_folder)
    if family.st_modules:
        _save_sentence_transformer(hf_folder, folder, family, config)
        shutil.rmtree(hf_folder)
    return folder


def _save_sentence_transformer(hf_folder: Path, folder: Path, family: Family, config: object) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, LayerNorm, Normalize, Pooling, Transformer

    width = getattr(config, "hidden_size", None) or config.d_model
    modules: list = [Transformer(str(hf_folder), max_seq_length=family.max_seq_length)]
    for spec in family.st_modules:
        if spec[0] == "Pooling":
            modules.append(Pooling(width, pooling_mode=spec[1]))
        elif spec[0] == "Dense":
            activation = getattr(torch.nn, spec[2])()
            modules.append(Dense(width, spec[1], activation_function=activation))
            width = spec[1]
        elif spec[0] == "LayerNorm":
            modules.append(LayerNorm(width))
        else:
            modules.append(Normalize())
    for module in modules[1:]:  # random, not identity, weights for LayerNorm so that a dropped module shows
        for parameter in module.parameters():
            torch.nn.init.normal_(parameter, std=0.5)
    prompts = dict(family.prompts)
    model = SentenceTransformer(modules=modules, device="cpu", prompts=prompts or None,
                                default_prompt_name=next(iter(prompts), None))
    model.save(str(folder))


#: The LaBSE-shaped folder (Pooling → Dense → LayerNorm → Normalize).
BY_NAME_DENSE = next(family for family in FAMILIES if family.name == "bert-dense")
