"""LV-ViT: vision transformers trained with token labeling.

Paper: "All Tokens Matter: Token Labeling for Training Better Vision
Transformers" (Jiang et al. 2021, arXiv 2104.10858). Reference
implementation: the authors' github.com/zihangJiang/TokenLabeling,
``tlt/models/lvvit.py`` (``LV_ViT``, ``lvvit_t/s/m/l``) and
``tlt/models/layers.py`` (``PatchEmbed4_2``, ``Block``, ``Attention``).
Layers carry the official module paths with ``_`` for ``.``
(``patch_embed.conv1`` -> ``patch_embed_conv1``, ``blocks.3.attn.qkv`` ->
``blocks_3_attn_qkv``, ``aux_head``), so `tfzoo.convert.load_timm_state_dict`
loads the official state dicts (`load_official_checkpoint` for the released
``.pth.tar`` files saved as safetensors).

Architecture:

- Patch embedding (``PatchEmbed4_2``; ``4_2_128`` for L): conv 7x7/2 (no
  bias, PyTorch padding 3) + BN + ReLU, two conv 3x3 + BN + ReLU (64
  channels, 128 for L), then a projection conv with kernel = stride = 8 and a
  bias: total stride 16.
- `tfzoo.layers.MixToken` (a pass-through unless built with
  ``mix_token=True`` and called in training), class token, absolute
  position embedding, dropout ``drop_rate``.
- Pre-norm blocks (`tfzoo.layers.transformer_block`): no qkv bias, MLP ratio
  3, LayerNorm epsilon 1e-5 (PyTorch's default; the official code does not
  set timm's 1e-6), ``x = x + drop_path(f(norm(x))) / skip_lam``, linearly
  increasing drop-path rates; dropout ``drop_rate`` after ``attn.proj`` and
  in the MLP (the official ``drop``), final LayerNorm ``norm``.
- Heads: ``head`` (Dense) on the class token and ``aux_head`` (Dense) on every
  patch token (laid out as the ``[B, H/16, W/16, C]`` token map); the output
  is ``head + 0.5 * max_tokens(aux_head)`` (logits), then ``classifier_activation`` (layer ``predictions``), as the
  official model in evaluation mode. `token_labeling_view` gives the training
  outputs ``{"cls", "aux", "lam"}`` of the same weights.

There is no dropout before the heads: the official ``drop_rate`` is the
dropout after the position embedding and inside the blocks, and tfzoo's
``drop_rate`` is mapped to it.

Variants (official README; trainable parameters at 1000 classes, ``aux_head``
included): T 8.53M, S 26.15M (26,151,824), M 55.83M, L 150.02M at 224 px;
the published 384/448/512 px checkpoints differ only in ``pos_embed``.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from tfzoo.layers import AbsolutePositionEmbedding, PrefixTokens, TokenPool, TokensToMap, transformer_block
from tfzoo.layers.mix_token import MixedLambda, MixToken, UnmixTokens
from tfzoo.layers.nf_layers import ScaleByConstant
from tfzoo.models._builder import TOKEN_POOLINGS, CommonArgs, builder_doc, resolve_variant
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

PATCH_SIZE = 16
LAYER_NORM_EPSILON = 1e-5
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


@dataclasses.dataclass(frozen=True)
class LVViTConfig:
    """One LV-ViT size (``tlt/models/lvvit.py``)."""

    embed_dim: int
    depth: int
    num_heads: int
    skip_lam: float
    stem_channels: int = 64
    mlp_ratio: float = 3.0


VARIANTS = {
    "t": LVViTConfig(embed_dim=240, depth=12, num_heads=4, skip_lam=1.0),
    "s": LVViTConfig(embed_dim=384, depth=16, num_heads=6, skip_lam=2.0),
    "m": LVViTConfig(embed_dim=512, depth=20, num_heads=8, skip_lam=2.0),
    "l": LVViTConfig(embed_dim=768, depth=24, num_heads=12, skip_lam=3.0, stem_channels=128),
}


@dataclasses.dataclass(frozen=True)
class RegisteredSize:
    """A registered name: a variant at an input size, with the official count and eval crop."""

    variant: str
    input_size: int
    num_params: int
    crop_pct: float


# Counts from scripts/make_lvvit_reference.py (official definitions, tests/reference_data/lvvit_counts.json).
REGISTERED = {
    "lvvit_t": RegisteredSize(variant="t", input_size=224, num_params=8_534_720, crop_pct=0.9),
    "lvvit_s": RegisteredSize(variant="s", input_size=224, num_params=26_151_824, crop_pct=0.9),
    "lvvit_s_384": RegisteredSize(variant="s", input_size=384, num_params=26_297_744, crop_pct=1.0),
    "lvvit_m": RegisteredSize(variant="m", input_size=224, num_params=55_830_544, crop_pct=1.0),
    "lvvit_m_384": RegisteredSize(variant="m", input_size=384, num_params=56_025_104, crop_pct=1.0),
    "lvvit_m_448": RegisteredSize(variant="m", input_size=448, num_params=56_131_600, crop_pct=1.0),
    "lvvit_l": RegisteredSize(variant="l", input_size=224, num_params=150_021_968, crop_pct=1.0),
    "lvvit_l_448": RegisteredSize(variant="l", input_size=448, num_params=150_473_552, crop_pct=1.0),
    "lvvit_l_512": RegisteredSize(variant="l", input_size=512, num_params=150_657_872, crop_pct=1.0),
}


def _conv_bn_relu(x, filters: int, kernel: int, strides: int, index: int):
    """Conv (no bias, PyTorch symmetric padding kernel // 2) + BN + ReLU: ``patch_embed_conv<i>`` / ``bn<i>``."""
    if kernel // 2:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"patch_embed_pad{index}")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="valid", use_bias=False,
                            name=f"patch_embed_conv{index}")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"patch_embed_bn{index}")(x)
    return keras.layers.ReLU(name=f"patch_embed_relu{index}")(x)


def lvvit_patch_embed(images, config: LVViTConfig):
    """``PatchEmbed4_2`` (``4_2_128`` for L): images ``[B, H, W, 3]`` -> patch map ``[B, H/16, W/16, D]``."""
    x = _conv_bn_relu(images, config.stem_channels, 7, 2, 1)
    x = _conv_bn_relu(x, config.stem_channels, 3, 1, 2)
    x = _conv_bn_relu(x, config.stem_channels, 3, 1, 3)
    return keras.layers.Conv2D(config.embed_dim, PATCH_SIZE // 2, strides=PATCH_SIZE // 2, padding="valid",
                               name="patch_embed_proj")(x)


@builder_doc(
    "LV-ViT (Jiang et al. 2021, arXiv 2104.10858) with its class head and per-token auxiliary head.",
    variant="``\"t\"``, ``\"s\"``, ``\"m\"`` or ``\"l\"``.",
    extra=("    img_size: Input side the position embedding is stored for (the official ``img_size``); other\n"
           "        input sizes resample it bicubically at run time, as timm's ``dynamic_img_size``.\n"
           "    mix_token: Build the MixToken layer active (it mixes only in training; used by token-labeling\n"
           "        training through `token_labeling_view`).\n"
           "    depth: Override the number of blocks (reduced builds for tests).\n"),
    input_size=224, min_size=PATCH_SIZE, poolings=TOKEN_POOLINGS,
    drop_path=" of the last block (linear from 0 over the blocks)")
def LVViT(variant: str = "s", *, img_size: int = 224, mix_token: bool = False, depth: int | None = None,
          **common) -> keras.Model:
    weights = common.get("weights")
    if weights is not None and str(weights).endswith(".safetensors"):
        model = LVViT(variant, img_size=img_size, mix_token=mix_token, depth=depth, **{**common, "weights": None})
        return load_official_checkpoint(model, weights)
    config = resolve_variant(VARIANTS, variant, "LV-ViT")
    if depth is not None:
        config = dataclasses.replace(config, depth=int(depth))
    args = CommonArgs.parse(common, builder="LVViT", name=f"lvvit_{variant}", input_size=img_size,
                            min_size=PATCH_SIZE, poolings=TOKEN_POOLINGS)
    drop_rate, num_classes = args.drop_rate, args.num_classes
    inputs = args.inputs()
    grid = (img_size // PATCH_SIZE, img_size // PATCH_SIZE)  # stored grid; other inputs resample it

    patches = lvvit_patch_embed(inputs, config)
    patches, _ = MixToken(enabled=mix_token, name="mix_token")(patches)
    x = PrefixTokens(cls_init_std=0.02, name="prefix_tokens")(patches)
    x = AbsolutePositionEmbedding(grid, num_prefix_tokens=1, name="pos_embed")(x, patches)
    if drop_rate > 0:
        x = keras.layers.Dropout(drop_rate, name="pos_drop")(x)
    rates = np.linspace(0.0, args.drop_path_rate, config.depth) if config.depth else []
    for i in range(config.depth):
        x = transformer_block(x, config.num_heads, mlp_ratio=config.mlp_ratio, qkv_bias=False,
                              drop_path=float(rates[i]), proj_drop=drop_rate, skip_lam=config.skip_lam,
                              norm_epsilon=LAYER_NORM_EPSILON, name=f"blocks_{i}")
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)
    if not args.include_top:
        return args.make(inputs, args.pool(x, num_prefix_tokens=1))

    cls = keras.layers.Dense(num_classes, name="head")(TokenPool("token", num_prefix_tokens=1, name="cls_pool")(x))
    patch_map = TokensToMap(num_prefix_tokens=1, name="patch_tokens")(x, patches)
    aux = keras.layers.Dense(num_classes, name="aux_head")(patch_map)  # [B, gh, gw, C]: per token
    aux_max = keras.layers.GlobalMaxPooling2D(name="aux_max")(aux)
    logits = keras.layers.Add(name="logits")([cls, ScaleByConstant(0.5, name="aux_scale")(aux_max)])
    outputs = keras.layers.Activation(args.classifier_activation or "linear", dtype="float32",
                                      name="predictions")(logits)
    return args.make(inputs, outputs)


def load_official_checkpoint(model: keras.Model, path: str) -> keras.Model:
    """Loads an official TokenLabeling state dict saved as ``.safetensors`` (strict; ``module.`` prefixes dropped).

    Convert a released ``.pth.tar`` once, where PyTorch is installed, with the
    source tree's converter (it takes ``state_dict_ema`` first, as here)::

        python scripts/pth_to_safetensors.py lvvit_s-26M-224-83.3.pth.tar lvvit_s.safetensors

    A ``pos_embed`` of another grid is resampled to the model's (bicubic, as
    timm), so a 224 checkpoint loads into a 384 model; a headless model
    (``include_top=False``) skips ``head`` / ``aux_head``.

    Raises:
        UsageError: missing file or a state dict that does not fit the model.
    """
    from tfzoo.convert import load_timm_state_dict
    from tfzoo.errors import UsageError

    if not os.path.isfile(path):
        raise UsageError(f"weights file not found: {path}")
    try:
        from safetensors.numpy import load_file
    except ImportError:  # pragma: no cover - safetensors is a dependency
        raise UsageError("loading .safetensors weights needs the safetensors package (pip install safetensors)")
    state_dict = {key[len("module."):] if key.startswith("module.") else key: value
                  for key, value in load_file(path).items()}
    names = {layer.name for layer in model.layers}
    if "head" not in names:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(("head.", "aux_head."))}
    try:
        load_timm_state_dict(model, state_dict, strict=True)
    except (KeyError, ValueError) as error:
        raise UsageError(f"{path} does not fit {model.name}: {str(error).splitlines()[0]}") from None
    return model


def token_labeling_view(model: keras.Model) -> keras.Model:
    """The training outputs of an LV-ViT built with ``include_top=True``, sharing its weights.

    Returns:
        A model ``images -> {"cls": [B, C], "aux": [B, N, C], "lam": [B, 1]}``:
        class-head logits, per-token logits with the MixToken box swapped back
        (`tfzoo.layers.UnmixTokens`), and ``lam = 1 - box_area / N`` (1 when
        nothing was mixed). Feed it to `tfzoo.losses.TokenLabelingLoss`.
    """
    mask = model.get_layer("mix_token").output[1]
    aux_map = model.get_layer("aux_head").output
    aux = keras.layers.Reshape((-1, aux_map.shape[-1]), name="aux_tokens")(aux_map)
    cls = model.get_layer("head").output
    unmixed = UnmixTokens(name="unmix_tokens")([aux, mask])
    lam = MixedLambda(name="mixed_lambda")([cls, mask])
    return keras.Model(model.inputs, {"cls": cls, "aux": unmixed, "lam": lam}, name=f"{model.name}_token_labeling")


for _name, _size in REGISTERED.items():
    register_model(ModelSpec(
        name=_name,
        family="lvvit",
        builder=LVViT,
        kwargs={"variant": _size.variant, "img_size": _size.input_size},
        paper="All Tokens Matter: Token Labeling for Training Better Vision Transformers (Jiang et al. 2021, "
              "arXiv 2104.10858)",
        reference=f"zihangJiang/TokenLabeling tlt/models/lvvit.py lvvit_{_size.variant} "
                  f"(img_size={_size.input_size})",
        num_params=_size.num_params,
        input_size=_size.input_size,
        min_input_size=PATCH_SIZE,
        crop_pct=_size.crop_pct,
        interpolation="bicubic",
        feature_info=(FeatureInfo(stride=PATCH_SIZE, layer="norm", tokens=True, num_prefix_tokens=1),),
    ))
