"""Tiny Hugging Face model folders built from configs, with tokenizers made by the `tokenizers` library."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

WORDS = (
    "hello world triton serves many models at once on one gpu the quick brown fox jumps over lazy dog "
    "customer review battery lasts two days screen is sharp but speaker far too quiet long inputs are "
    "truncated to model maximum length short unicode emojis must survive tokenization a an and of in it"
).split()
LABELS = ("negative", "neutral", "positive")
TOKEN_LABELS = ("O", "B-ORG", "I-ORG", "B-PER")


def wordpiece_tokenizer() -> Tokenizer:
    """A BERT-style WordPiece tokenizer over a small vocabulary."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({c for w in WORDS for c in w} | set("0123456789.,!?'"))
    vocab = {t: i for i, t in enumerate(dict.fromkeys(specials + WORDS + chars + [f"##{c}" for c in chars]))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    return tok


def bpe_tokenizer() -> Tokenizer:
    """A RoBERTa-style byte-level BPE tokenizer trained on a few sentences."""
    from tokenizers import trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([" ".join(WORDS)] * 20, trainer)
    sep, cls = ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    tok.post_processor = processors.RobertaProcessing(sep, cls)
    return tok


def make_bert(folder: Path, task: str = "feature-extraction", sentence_transformers: bool = False,
              pooling: str = "mean", multi_label: bool = False) -> Path:
    """Write a tiny BERT folder for ``task``; optionally as a sentence-transformers folder."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertForTokenClassification,
        BertModel,
        BertTokenizer,
    )

    torch.manual_seed(0)
    tok = wordpiece_tokenizer()
    labels = TOKEN_LABELS if task == "token-classification" else LABELS
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64, pad_token_id=0,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else None,
    )
    model_class = {"feature-extraction": BertModel, "text-classification": BertForSequenceClassification,
                   "token-classification": BertForTokenClassification}[task]
    model = model_class(config).eval()
    model.save_pretrained(folder)
    BertTokenizer(tokenizer_object=tok, model_max_length=64).save_pretrained(folder)
    if sentence_transformers:
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
            "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max"}))
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]))
        (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    return folder


def make_roberta(folder: Path, task: str = "text-classification") -> Path:
    """Write a tiny RoBERTa folder (byte-level BPE, no token_type_ids) for ``task``."""
    from transformers import (
        RobertaConfig,
        RobertaForSequenceClassification,
        RobertaModel,
        RobertaTokenizer,
    )

    torch.manual_seed(0)
    tok = bpe_tokenizer()
    config = RobertaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=66, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        type_vocab_size=1, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)},
    )
    model_class = RobertaForSequenceClassification if task == "text-classification" else RobertaModel
    model_class(config).eval().save_pretrained(folder)
    RobertaTokenizer(tokenizer_object=tok, model_max_length=64, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                     cls_token="<s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>").save_pretrained(folder)
    return folder


NLI_LABELS = ("contradiction", "entailment", "neutral")


def make_cross_encoder(folder: Path, num_labels: int = 1, saved_by_sentence_transformers: bool = False) -> Path:
    """Write a tiny BERT cross-encoder: one relevance label (a reranker), or NLI-style labels.

    With ``saved_by_sentence_transformers`` the folder is what ``CrossEncoder.save_pretrained`` writes
    (modules.json, config_sentence_transformers.json); otherwise a plain transformers folder, with CrossEncoder
    settings in ``config.json`` when it has several labels.
    """
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(1)
    tok = wordpiece_tokenizer()
    labels = NLI_LABELS if num_labels > 1 else ("LABEL_0",)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64, pad_token_id=0, num_labels=num_labels,
        initializer_range=0.5, id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    if num_labels > 1:
        config.sentence_transformers = {"activation_fn": "torch.nn.modules.linear.Identity"}
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    BertTokenizer(tokenizer_object=tok, model_max_length=64).save_pretrained(folder)
    if saved_by_sentence_transformers:
        from sentence_transformers import CrossEncoder

        CrossEncoder(str(folder)).save_pretrained(str(folder))
    return folder


ENTITY_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def make_tagger(folder: Path, byte_level: bool = False) -> Path:
    """Write a tiny named-entity tagger whose token classes vary (a wide initialisation, several B-/I- tags).

    WordPiece (BERT, word-aware sub-words) by default; ``byte_level`` makes a RoBERTa with byte-level BPE, whose
    words transformers' pipeline finds with its fallback heuristic.
    """
    from transformers import (
        BertConfig,
        BertForTokenClassification,
        BertTokenizer,
        RobertaConfig,
        RobertaForTokenClassification,
        RobertaTokenizer,
    )

    torch.manual_seed(2)
    labels = {"id2label": dict(enumerate(ENTITY_LABELS)), "label2id": {x: i for i, x in enumerate(ENTITY_LABELS)}}
    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
             "initializer_range": 0.3}
    if byte_level:
        tok = bpe_tokenizer()
        config = RobertaConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=66, pad_token_id=1,
                               bos_token_id=0, eos_token_id=2, type_vocab_size=1, **sizes, **labels)
        RobertaForTokenClassification(config).eval().save_pretrained(folder)
        RobertaTokenizer(tokenizer_object=tok, model_max_length=64, bos_token="<s>", eos_token="</s>",
                         sep_token="</s>", cls_token="<s>", pad_token="<pad>", unk_token="<unk>",
                         mask_token="<mask>").save_pretrained(folder)
        return folder
    tok = wordpiece_tokenizer()
    config = BertConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=64, pad_token_id=0, **sizes,
                        **labels)
    BertForTokenClassification(config).eval().save_pretrained(folder)
    BertTokenizer(tokenizer_object=tok, model_max_length=64).save_pretrained(folder)
    return folder


def make_splade(folder: Path, saved_by_sentence_transformers: bool = False) -> Path:
    """Write a tiny BERT masked LM; optionally as a sentence-transformers SparseEncoder folder (SpladePooling max).

    Its weights are drawn so that a text activates part of the vocabulary, as a trained SPLADE model does.
    """
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    torch.manual_seed(3)
    tok = wordpiece_tokenizer()
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64, pad_token_id=0, initializer_range=0.1)
    model = BertForMaskedLM(config).eval()
    with torch.no_grad():
        model.cls.predictions.bias.fill_(-1.0)  # Most of the vocabulary stays at zero for a given text.
    model.save_pretrained(folder)
    BertTokenizer(tokenizer_object=tok, model_max_length=64).save_pretrained(folder)
    if saved_by_sentence_transformers:
        from sentence_transformers import SparseEncoder
        from sentence_transformers.base.modules import Transformer
        from sentence_transformers.sparse_encoder.modules import SpladePooling

        modules = [Transformer(str(folder), transformer_task="fill-mask"), SpladePooling("max")]
        SparseEncoder(modules=modules, device="cpu").save_pretrained(str(folder))
    return folder


def make_default_labels(folder: Path, task: str = "text-classification") -> Path:
    """Write a tiny BERT classifier or tagger with transformers' default labels (no ``id2label`` in config.json).

    transformers 5 writes neither ``id2label`` nor ``num_labels`` when the labels are its defaults (2 classes,
    ``LABEL_0`` and ``LABEL_1``): the most common shape of a fine-tuned classifier.
    """
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification, BertTokenizer

    torch.manual_seed(4)
    tok = wordpiece_tokenizer()
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64, pad_token_id=0, initializer_range=0.3)
    model_class = BertForTokenClassification if task == "token-classification" else BertForSequenceClassification
    model_class(config).eval().save_pretrained(folder)
    BertTokenizer(tokenizer_object=tok, model_max_length=64).save_pretrained(folder)
    return folder


def clip_tokenizer() -> object:
    """transformers' CLIPTokenizer over a small byte-level BPE whose word ends carry ``</w>``, as CLIP's does."""
    from tokenizers import pre_tokenizers as pre
    from transformers import CLIPTokenizer

    alphabet = sorted(pre.ByteLevel.alphabet())
    vocab = {token: index for index, token in enumerate([*alphabet, *(c + "</w>" for c in alphabet)])}
    merges = []
    for word in sorted(set(WORDS)):
        merged = word[0]
        for index, char in enumerate(word[1:]):
            piece = char + ("</w>" if index == len(word) - 2 else "")
            merges.append((merged, piece))
            merged += piece
            vocab.setdefault(merged, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=64)


def make_clip_text(folder: Path) -> Path:
    """Write a tiny CLIPTextModel with CLIP's tokenizer (its fast decode keeps the ``</w>`` word-end marks)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(5)
    tokenizer = clip_tokenizer()
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    CLIPTextModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_gpt2_classifier(folder: Path, pad_token: bool = True, padding_side: str = "right") -> Path:
    """Write a tiny GPT-2 classifier; without ``pad_token`` neither its config nor its tokenizer names one."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from tests.support.tiny_families import build_tokenizer

    torch.manual_seed(6)
    tokenizer, ids = build_tokenizer("decoder", padding_side, token_types=False)
    if not pad_token:
        tokenizer.pad_token = None
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=64,
                        bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"],
                        pad_token_id=ids["pad_token_id"] if pad_token else None, initializer_range=0.5)
    GPT2ForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
