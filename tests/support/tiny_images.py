"""Generated test images (varied sizes, modes and formats, one with EXIF rotation) and tiny image models."""

from __future__ import annotations

import json
from pathlib import Path

from export.images.verification import encode, picture

IMAGE_LABELS = ("cat", "dog", "bird")


def bad_images() -> dict[str, bytes]:
    """Items that are not images the step reads: empty, text, a truncated JPEG, a decompression bomb."""
    from PIL import Image

    jpeg = encode(Image.fromarray(picture(64, 48, 0)), "JPEG")
    bomb = encode(Image.new("1", (12_000, 10_000)), "PNG")  # 120 MP of zeros compresses to a few KB
    return {"empty.jpg": b"", "notes.txt": b"hello, not an image\n", "truncated.jpg": jpeg[: len(jpeg) // 3],
            "bomb.png": bomb}


def _save_processor(folder: Path, processor: object) -> None:
    processor.save_pretrained(str(folder))


def make_vit(folder: Path, classifier: bool = True, image_size: int = 32) -> Path:
    """A tiny ViT (classifier with three labels, or the base model) and its ViT image processor."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64,
                       id2label=dict(enumerate(IMAGE_LABELS)), label2id={n: i for i, n in enumerate(IMAGE_LABELS)})
    model = ViTForImageClassification(config) if classifier else ViTModel(config)
    model.eval().save_pretrained(str(folder))
    _save_processor(folder, ViTImageProcessor(size={"height": image_size, "width": image_size}))
    return folder


def make_convnext(folder: Path) -> Path:
    """A tiny ConvNeXt classifier and its processor (shortest edge below 384: the crop_pct rule, bicubic)."""
    import torch
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    torch.manual_seed(1)
    config = ConvNextConfig(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                            id2label=dict(enumerate(IMAGE_LABELS)), label2id={n: i for i, n in enumerate(IMAGE_LABELS)})
    ConvNextForImageClassification(config).eval().save_pretrained(str(folder))
    _save_processor(folder, ConvNextImageProcessor(size={"shortest_edge": 40}, crop_pct=0.875))
    return folder


def make_swin(folder: Path) -> Path:
    """A tiny Swin classifier (ViT's image processor, bicubic) with two labels."""
    import torch
    from transformers import SwinConfig, SwinForImageClassification, ViTImageProcessor

    torch.manual_seed(2)
    config = SwinConfig(image_size=32, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=4,
                        id2label={0: "day", 1: "night"}, label2id={"day": 0, "night": 1})
    SwinForImageClassification(config).eval().save_pretrained(str(folder))
    _save_processor(folder, ViTImageProcessor(size={"height": 32, "width": 32}, resample=3))
    return folder


def make_dinov2(folder: Path) -> Path:
    """A tiny DINOv2 base model and its processor (BitImageProcessor: shortest edge, center crop, bicubic)."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(3)
    config = Dinov2Config(image_size=28, patch_size=7, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64)
    Dinov2Model(config).eval().save_pretrained(str(folder))
    _save_processor(folder, BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 28, "width": 28},
                                              resample=3, image_mean=[0.485, 0.456, 0.406],
                                              image_std=[0.229, 0.224, 0.225]))
    return folder


def labels_of(folder: Path) -> list[str]:
    """Class names of a classifier folder in index order."""
    id2label = json.loads((folder / "config.json").read_text())["id2label"]
    return [id2label[str(i)] for i in range(len(id2label))]


def make_clip(folder: Path) -> Path:
    """A tiny CLIPModel with CLIP's tokenizer (byte-level BPE with ``</w>``) and CLIP's image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from tests.support.tiny_models import clip_tokenizer

    torch.manual_seed(6)
    tokenizer = clip_tokenizer()
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": 30, "patch_size": 6}
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    CLIPModel(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    _save_processor(folder, CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}))
    return folder


def make_siglip(folder: Path) -> Path:
    """A tiny SiglipModel (fixed 64-token texts, sigmoid scores) with a fast WordPiece tokenizer and its processor."""
    import torch
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipImageProcessor, SiglipModel

    from tests.support.tiny_models import wordpiece_tokenizer

    torch.manual_seed(7)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=wordpiece_tokenizer(), pad_token="[PAD]", unk_token="[UNK]",
                                        model_max_length=64)
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": tokenizer.pad_token_id}
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": 28, "patch_size": 7}
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()
    with torch.no_grad():  # a trained SigLIP's bias is far from 0 (about -10): make the bias count
        model.logit_scale.fill_(1.5)
        model.logit_bias.fill_(-2.0)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    _save_processor(folder, SiglipImageProcessor(size={"height": 28, "width": 28}))
    return folder


def make_st_clip(folder: Path, clip_folder: Path) -> Path:
    """A sentence-transformers CLIP folder (one CLIPModel module) around the tiny CLIP in ``clip_folder``."""
    import logging

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import CLIPModel

    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)  # the module's deprecation note
    SentenceTransformer(modules=[CLIPModel(str(clip_folder))], device="cpu").save(str(folder))
    return folder


def make_clip_vision(folder: Path, clip_folder: Path) -> Path:
    """The tiny CLIP's vision tower as a ``CLIPVisionModelWithProjection`` folder (image_embeds)."""
    from transformers import CLIPImageProcessor, CLIPModel, CLIPVisionModelWithProjection

    clip = CLIPModel.from_pretrained(str(clip_folder))
    vision = CLIPVisionModelWithProjection(clip.config.vision_config.__class__(
        **{**clip.config.vision_config.to_dict(), "projection_dim": clip.config.projection_dim}))
    vision.vision_model.load_state_dict(clip.vision_model.state_dict())
    vision.visual_projection.load_state_dict(clip.visual_projection.state_dict())
    vision.eval().save_pretrained(str(folder))
    CLIPImageProcessor.from_pretrained(str(clip_folder)).save_pretrained(str(folder))
    return folder
