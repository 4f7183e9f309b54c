"""MLP-Mixer.

Paper: "MLP-Mixer: An all-MLP Architecture for Vision", Tolstikhin et al.
2021, arXiv 2105.01601. Reference: timm ``MlpMixer``
(``timm/models/mlp_mixer.py``, ``mixer_s32_224`` ... ``mixer_l16_224``, the six
sizes timm defines), with timm's default pretrained configuration (224 px,
crop 0.875, bicubic, mean/std 0.5).

Structure (timm's module names): ``stem_proj`` (conv, kernel = stride =
patch; no stem norm) -> ``blocks_<i>`` (`tfzoo.layers.mixer_block`:
``norm1`` -> token MLP ``mlp_tokens_fc1/fc2`` across the patches -> residual,
``norm2`` -> channel MLP ``mlp_channels_fc1/fc2`` -> residual) -> ``norm`` ->
average over tokens -> ``head``. MLP widths ``(0.5, 4.0) * C``, LayerNorm
epsilon 1e-6, exact GELU, stochastic depth growing linearly over the blocks.

The token MLP's width is the number of patches, so a Mixer runs only at the
input size it was built for, and its parameter count depends on it (the
registered counts are at 224 px). Differences from timm: the initialization
(Keras' glorot uniform for every Dense, which is timm's xavier_uniform, but
zero biases where timm draws N(0, 1e-6); the classifier uses Keras' uniform
fan-out where timm uses zeros).
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from tfzoo.errors import UsageError
from tfzoo.layers import mixer_block, patch_embed
from tfzoo.layers.transformer import LAYER_NORM_EPSILON
from tfzoo.models._builder import (TOKEN_POOLINGS, builder_doc, check_head_args, finish_model, image_input,
                                   resolve_variant)
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

PAPER = "MLP-Mixer: An all-MLP Architecture for Vision (Tolstikhin et al. 2021, arXiv 2105.01601)"
MIXER_POOLINGS = (None, "avg", "max")  # no class token


class MixerConfig(NamedTuple):
    """One MLP-Mixer architecture (timm's ``model_args``)."""

    patch_size: int
    num_blocks: int
    embed_dim: int
    tokens_ratio: float = 0.5
    channels_ratio: float = 4.0


VARIANTS = {
    "s32_224": MixerConfig(patch_size=32, num_blocks=8, embed_dim=512),
    "s16_224": MixerConfig(patch_size=16, num_blocks=8, embed_dim=512),
    "b32_224": MixerConfig(patch_size=32, num_blocks=12, embed_dim=768),
    "b16_224": MixerConfig(patch_size=16, num_blocks=12, embed_dim=768),
    "l32_224": MixerConfig(patch_size=32, num_blocks=24, embed_dim=1024),
    "l16_224": MixerConfig(patch_size=16, num_blocks=24, embed_dim=1024),
}


def num_params(config: MixerConfig, image_size: int = 224, num_classes: int = 1000) -> int:
    """Trainable parameters (timm's count) at a square input, from the configuration alone."""
    dim, patch = config.embed_dim, config.patch_size
    tokens = (image_size // patch) ** 2
    tokens_hidden, channels_hidden = int(config.tokens_ratio * dim), int(config.channels_ratio * dim)
    block = 4 * dim + (tokens * tokens_hidden + tokens_hidden + tokens_hidden * tokens + tokens)
    block += dim * channels_hidden + channels_hidden + channels_hidden * dim + dim
    return patch * patch * 3 * dim + dim + config.num_blocks * block + 2 * dim + dim * num_classes + num_classes


@builder_doc("Builds an MLP-Mixer from the `VARIANTS` table (timm ``mixer_<variant>``).",
             variant="A key of `VARIANTS`, e.g. ``\"b16_224\"``.",
             extra="    proj_drop_rate: Dropout inside the token and channel MLPs (timm ``proj_drop_rate``).\n",
             min_size=16, poolings=MIXER_POOLINGS,
             drop_path=" of the last block, growing linearly from 0 over the blocks")
def build_mixer(
    variant: str,
    *,
    include_top: bool = True,
    weights: str | None = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    proj_drop_rate: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    config = resolve_variant(VARIANTS, variant, "MLP-Mixer")
    name = name or f"mixer_{variant}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes, model_name=name,
                    poolings=MIXER_POOLINGS)
    inputs = image_input(input_shape or (224, 224, 3), min_size=config.patch_size, model_name=name)
    if None in inputs.shape[1:3]:
        raise UsageError(f"{name}: MLP-Mixer's token MLP needs a fixed input size; pass input_shape=(h, w, 3)")
    x = patch_embed(inputs, config.patch_size, config.embed_dim, name="stem",
                    kernel_initializer=keras.initializers.LecunNormal)
    for index in range(config.num_blocks):
        rate = drop_path_rate * index / max(config.num_blocks - 1, 1)
        x = mixer_block(x, tokens_hidden=int(config.tokens_ratio * config.embed_dim),
                        channels_hidden=int(config.channels_ratio * config.embed_dim), drop_path=rate,
                        drop=proj_drop_rate, kernel_initializer=keras.initializers.GlorotUniform,
                        name=f"blocks_{index}")
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)
    return finish_model(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes,
                        drop_rate=drop_rate, classifier_activation=classifier_activation, name=name, weights=weights,
                        classifier_name="head", head_pooling="avg", num_prefix_tokens=0)


def MLPMixer(variant: str = "b16_224", **kwargs) -> keras.Model:
    """MLP-Mixer S/B/L at patch 16 or 32 (``variant="s16_224"`` ...); see `build_mixer` for the arguments."""
    return build_mixer(variant, **kwargs)


# timm's trainable counts at 1000 classes and 224 px (timm 1.0.31).
NUM_PARAMS = {
    "s32_224": 19_104_624,
    "s16_224": 18_528_264,
    "b32_224": 60_293_428,
    "b16_224": 59_880_472,
    "l32_224": 206_939_264,
    "l16_224": 208_196_168,
}

for _variant, _config in VARIANTS.items():
    register_model(ModelSpec(
        name=f"mixer_{_variant}",
        family="mlp_mixer",
        builder=MLPMixer,
        kwargs={"variant": _variant},
        paper=PAPER,
        reference=f"timm mixer_{_variant}",
        num_params=NUM_PARAMS[_variant],
        input_size=224,
        min_input_size=_config.patch_size,
        crop_pct=0.875,
        interpolation="bicubic",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        feature_info=(FeatureInfo(stride=_config.patch_size, layer="norm", tokens=True, num_prefix_tokens=0),),
    ))
