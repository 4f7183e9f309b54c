"""Vision Transformer (ViT).

Paper: "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale", Dosovitskiy et al. 2020, arXiv 2010.11929. Reference: timm
``VisionTransformer`` (``timm/models/vision_transformer.py``) with the
defaults of ``vit_tiny_patch16_224`` ... ``vit_base_patch16_384``; the
registered defaults (224 or 384 px, crop 0.9 or 1.0, bicubic, mean/std 0.5) are
those of timm's default pretrained tag (``augreg_in21k_ft_in1k``; ViT-B/16-224:
``augreg2_in21k_ft_in1k``).

Structure (layer names are timm's module paths, ``.`` spelled ``_``):
``patch_embed_proj`` (conv, kernel = stride = patch) -> ``cls_token`` prepended
(`PrefixTokens`, layer ``prefix_tokens``) -> ``pos_embed`` added -> optional
``pos_drop`` -> ``blocks_<i>`` (pre-norm, `tfzoo.layers.transformer_block`:
``norm1``, ``attn_qkv``, ``attn_proj``, ``norm2``, ``mlp_fc1``, ``mlp_fc2``)
-> ``norm`` -> class token -> ``head``. LayerNorm epsilon 1e-6, exact GELU,
``qkv`` with bias, stochastic depth growing linearly over the blocks
(``linspace(0, drop_path_rate, depth)``, as timm).

The position embedding is stored on the grid of `img_size` (the variant's
224 or 384 px, so the weight shapes and parameter count do not depend on the
input size) and resampled bicubically, class token kept, whenever the input's
patch grid differs (`tfzoo.layers.AbsolutePositionEmbedding`; timm's
``dynamic_img_size`` / ``resample_abs_pos_embed``). A model built for 224 thus
runs at 384 with the same weights file; ``img_size=384`` stores a 24x24 grid
instead, and `tfzoo.convert.load_timm_state_dict` resamples a timm checkpoint
of another grid on load.

Differences from timm: initialization of the classifier (Keras' uniform
fan-out, timm truncated normal 0.02) and of the patch conv (Keras' uniform
fan-in with PyTorch's scale).

MoCo v3's ViT (Chen et al. 2021, arXiv 2104.02057, facebookresearch/moco-v3
``vits.py``) is this model with ``pos_embed="sincos"`` and
``freeze_patch_embed=True``; its own initialization (xavier-uniform Linear
layers, ``qkv`` as three matrices, zero biases) is not reproduced.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import keras

from tfzoo.layers import AbsolutePositionEmbedding, PrefixTokens, patch_embed, transformer_block
from tfzoo.layers.transformer import LAYER_NORM_EPSILON
from tfzoo.models._builder import TOKEN_POOLINGS, CommonArgs, builder_doc, one_of, resolve_variant
from tfzoo.models.registry import FeatureInfo, ModelSpec, register_model

PAPER = ("An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale "
         "(Dosovitskiy et al. 2020, arXiv 2010.11929)")
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


class ViTConfig(NamedTuple):
    """One ViT / DeiT architecture (timm's ``model_args`` of that name)."""

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    img_size: int = 224
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    distilled: bool = False  # DeiT: a distillation token and a second head


VARIANTS = {
    "tiny_patch16_224": ViTConfig(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "small_patch16_224": ViTConfig(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "base_patch16_224": ViTConfig(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "large_patch16_224": ViTConfig(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "base_patch32_224": ViTConfig(patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "base_patch16_384": ViTConfig(patch_size=16, embed_dim=768, depth=12, num_heads=12, img_size=384),
}


def num_prefix_tokens(config: ViTConfig) -> int:
    """Tokens in front of the patch tokens: the class token, and DeiT's distillation token."""
    return 2 if config.distilled else 1


def num_params(config: ViTConfig, num_classes: int = 1000) -> int:
    """Trainable parameters of a ViT / DeiT (timm's count), from the configuration alone.

    Used for the largest variants, whose full build is too slow for the test
    suite; `tests/models/test_vit.py` checks it against built models and
    timm's figures.
    """
    dim, patch = config.embed_dim, config.patch_size
    hidden = int(dim * config.mlp_ratio)
    prefix = num_prefix_tokens(config)
    grid = config.img_size // patch
    embed = patch * patch * 3 * dim + dim + prefix * dim + (prefix + grid * grid) * dim
    block = 4 * dim + 3 * dim * dim + (3 * dim if config.qkv_bias else 0) + dim * dim + dim
    block += dim * hidden + hidden + hidden * dim + dim
    heads = (2 if config.distilled else 1) * (dim * num_classes + num_classes)
    return embed + config.depth * block + 2 * dim + heads


def vit_tokens(inputs, config: ViTConfig, *, img_size: int | None = None, drop_path_rate: float = 0.0,
               pos_drop_rate: float = 0.0, attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0,
               pos_embed: str = "learned", freeze_patch_embed: bool = False):
    """The ViT / DeiT trunk: images -> normalized tokens ``[B, prefix + N, C]`` (layer ``norm``).

    Args:
        inputs: The image input.
        config: The architecture.
        img_size: Side the position embedding's grid is stored for (default ``config.img_size``).
        drop_path_rate: Stochastic depth of the last block (linear from 0).
        pos_drop_rate: Dropout after the position embedding (timm ``pos_drop``).
        attn_drop_rate: Dropout on the attention probabilities.
        proj_drop_rate: Dropout after the attention projection and in the MLPs.
        pos_embed: ``"learned"`` or ``"sincos"`` (MoCo v3's fixed table).
        freeze_patch_embed: Keep the patch projection at its random
            initialization (MoCo v3's ``stop_grad_conv1``).
    """
    grid = (img_size or config.img_size) // config.patch_size
    patches = patch_embed(inputs, config.patch_size, config.embed_dim, flatten=False,
                          kernel_initializer=lambda: keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
                          trainable=not freeze_patch_embed)
    x = PrefixTokens(distilled=config.distilled, name="prefix_tokens")(patches)
    x = AbsolutePositionEmbedding((grid, grid), num_prefix_tokens=num_prefix_tokens(config), embedding=pos_embed,
                                  name="pos_embed")(x, patches)
    if pos_drop_rate > 0:
        x = keras.layers.Dropout(pos_drop_rate, name="pos_drop")(x)
    for index in range(config.depth):
        rate = drop_path_rate * index / max(config.depth - 1, 1)
        x = transformer_block(x, config.num_heads, mlp_ratio=config.mlp_ratio, qkv_bias=config.qkv_bias,
                              drop_path=rate, attn_drop=attn_drop_rate, proj_drop=proj_drop_rate,
                              name=f"blocks_{index}")
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)


FAMILY_ARGS = """\
    pos_drop_rate: Dropout after the position embedding (timm ``pos_drop_rate``).
    attn_drop_rate: Dropout on the attention probabilities.
    proj_drop_rate: Dropout after each attention projection and in the MLPs.
    img_size: Input side the position embedding is stored for (default the
        variant's, 224 or 384); other input sizes resample it at run time.
    pos_embed: ``"learned"`` (timm) or ``"sincos"``: MoCo v3's fixed 2-D
        sin-cos table (non-trainable; its parameters leave the trainable count).
    freeze_patch_embed: Freeze the patch projection at its random
        initialization (MoCo v3's ``stop_grad_conv1``).
"""
DROP_PATH = " of the last block, growing linearly from 0 over the blocks"
# The options of every builder over `vit_tokens` (ViT, DeiT), documented by `FAMILY_ARGS`: `vit_doc` puts
# them in the builder's signature, `vit_trunk` takes them out of the builder's keyword arguments.
VIT_OPTIONS = (
    inspect.Parameter("pos_drop_rate", inspect.Parameter.KEYWORD_ONLY, default=0.0, annotation="float"),
    inspect.Parameter("attn_drop_rate", inspect.Parameter.KEYWORD_ONLY, default=0.0, annotation="float"),
    inspect.Parameter("proj_drop_rate", inspect.Parameter.KEYWORD_ONLY, default=0.0, annotation="float"),
    inspect.Parameter("img_size", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | None"),
    inspect.Parameter("pos_embed", inspect.Parameter.KEYWORD_ONLY, default="learned", annotation="str"),
    inspect.Parameter("freeze_patch_embed", inspect.Parameter.KEYWORD_ONLY, default=False, annotation="bool"),
)


def vit_doc(summary: str, table):
    """`builder_doc` for a builder ``def Family(variant=..., **options)`` over `vit_trunk` (ViT, DeiT).

    The builder's signature shows `VIT_OPTIONS` after ``variant``, then the common arguments.
    """
    document = builder_doc(summary, variant=one_of(table), extra=FAMILY_ARGS, min_size=16, poolings=TOKEN_POOLINGS,
                           drop_path=DROP_PATH)

    def decorate(fn):
        signature = inspect.signature(fn)
        *own, options = signature.parameters.values()  # variant, **options
        fn.__signature__ = signature.replace(parameters=[*own, *VIT_OPTIONS, options])
        return document(fn)
    return decorate


def vit_trunk(config: ViTConfig, options: dict, *, builder: str, name: str):
    """The shared start of the ViT / DeiT builders: the parsed arguments, the input and `vit_tokens`.

    Args:
        config: The architecture.
        options: The builder's keyword arguments: `VIT_OPTIONS` and the common ones (`CommonArgs.parse`).
        builder: The builder's name (for errors).
        name: The default model name.

    Returns:
        ``(args, inputs, tokens)``: the `CommonArgs`, the image input and the normalized tokens.
    """
    own = {option.name: options.get(option.name, option.default) for option in VIT_OPTIONS}
    common = {key: value for key, value in options.items() if key not in own}
    args = CommonArgs.parse(common, builder=builder, name=name, input_size=own["img_size"] or config.img_size,
                            min_size=config.patch_size, poolings=TOKEN_POOLINGS)
    inputs = args.inputs()
    return args, inputs, vit_tokens(inputs, config, drop_path_rate=args.drop_path_rate, **own)


@vit_doc("Builds a Vision Transformer from the `VARIANTS` table (timm ``vit_<variant>``).", VARIANTS)
def ViT(variant: str = "base_patch16_224", **options) -> keras.Model:
    config = resolve_variant(VARIANTS, variant, "ViT")
    args, inputs, x = vit_trunk(config, options, builder="ViT", name=f"vit_{variant}")
    return args.finish(inputs, x, classifier_name="head", head_pooling="token", num_prefix_tokens=1)


build_vit = ViT  # the name before the builder contract


def register_vit_family(family: str, builder, table, *, counts: dict, paper: str, mean: tuple, std: tuple):
    """Registers ``<family>_<variant>`` for every row of a `ViTConfig` table (ViT, DeiT).

    The registered defaults are those of timm's default pretrained tag: the
    variant's input size, crop 0.9 at 224 px and 1.0 otherwise, bicubic; the
    features are the patch tokens of ``norm`` (stride = patch size).

    Args:
        family: The family name, also the prefix of the registered names.
        builder: The family builder (takes ``variant``).
        table: The variant table, ``{variant: ViTConfig}``.
        counts: timm's trainable parameter count of each variant at 1000 classes.
        paper: The paper, for the registry.
        mean: Input normalization mean.
        std: Input normalization std.
    """
    for variant, config in table.items():
        register_model(ModelSpec(
            name=f"{family}_{variant}",
            family=family,
            builder=builder,
            kwargs={"variant": variant},
            paper=paper,
            reference=f"timm {family}_{variant}",
            num_params=counts[variant],
            input_size=config.img_size,
            min_input_size=config.patch_size,
            crop_pct=0.9 if config.img_size == 224 else 1.0,
            interpolation="bicubic",
            mean=mean,
            std=std,
            feature_info=(FeatureInfo(stride=config.patch_size, layer="norm", tokens=True,
                                      num_prefix_tokens=num_prefix_tokens(config)),),
        ))


# timm's trainable counts at 1000 classes (timm 1.0.31); tests check num_params() reproduces them.
NUM_PARAMS = {
    "tiny_patch16_224": 5_717_416,
    "small_patch16_224": 22_050_664,
    "base_patch16_224": 86_567_656,
    "large_patch16_224": 304_326_632,
    "base_patch32_224": 88_224_232,
    "base_patch16_384": 86_859_496,
}

register_vit_family("vit", ViT, VARIANTS, counts=NUM_PARAMS, paper=PAPER, mean=INCEPTION_MEAN, std=INCEPTION_STD)
