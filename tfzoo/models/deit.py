"""DeiT: data-efficient image transformers, with the distillation token.

Paper: "Training data-efficient image transformers & distillation through
attention", Touvron et al. 2020, arXiv 2012.12877. Reference: timm
``deit_*`` (``timm/models/deit.py``: ``VisionTransformer`` for the plain
models, ``VisionTransformerDistilled`` for ``*_distilled_*``), whose default
pretrained configuration is used here (ImageNet mean/std, bicubic, crop 0.9
at 224 px and 1.0 at 384 px; timm's ``deit`` ``_cfg`` sets ``crop_pct=.9``).

The plain DeiT models are ViTs (`tfzoo.models.vit`): same trunk, same layer
names. The distilled ones add a distillation token after the class token
(``dist_token``, held with ``cls_token`` by the ``prefix_tokens`` layer; the
position embedding covers both) and a second classifier, ``head_dist``, on
it. As in the paper (section 5, "joint classifiers") and timm in eval mode,
the model's output is the mean of the two heads' logits, then
``classifier_activation`` (layer ``predictions``); ``tfzoo eval``, ``export``
and ``predict`` therefore use the averaged prediction.

For distillation training, `distillation_heads` gives a view of the same
layers (same weights, nothing copied) whose outputs are the two heads' logits
``[cls_logits, dist_logits]``: the class head learns from the labels and the
distillation head from the teacher (``tfzoo.training`` does this). Without the
top, ``pooling="token"`` returns the mean of the class and distillation tokens
(timm's ``forward_head(pre_logits=True)``).
"""

from __future__ import annotations

import keras

from tfzoo.layers import SelectToken
from tfzoo.layers.conv import dense_init
from tfzoo.models._builder import (TOKEN_POOLINGS, builder_doc, check_head_args, finish_model, image_input,
                                   make_model, pool_features, resolve_variant)
from tfzoo.models.registry import IMAGENET_MEAN, IMAGENET_STD, FeatureInfo, ModelSpec, register_model
from tfzoo.models.vit import _FAMILY_ARGS, ViTConfig, vit_tokens

PAPER = ("Training data-efficient image transformers & distillation through attention "
         "(Touvron et al. 2020, arXiv 2012.12877)")
CLASS_HEAD = "head"
DIST_HEAD = "head_dist"


def _deit(embed_dim: int, num_heads: int, img_size: int = 224, distilled: bool = False) -> ViTConfig:
    return ViTConfig(patch_size=16, embed_dim=embed_dim, depth=12, num_heads=num_heads, img_size=img_size,
                     distilled=distilled)


VARIANTS = {
    "tiny_patch16_224": _deit(embed_dim=192, num_heads=3),
    "small_patch16_224": _deit(embed_dim=384, num_heads=6),
    "base_patch16_224": _deit(embed_dim=768, num_heads=12),
    "base_patch16_384": _deit(embed_dim=768, num_heads=12, img_size=384),
    "tiny_distilled_patch16_224": _deit(embed_dim=192, num_heads=3, distilled=True),
    "small_distilled_patch16_224": _deit(embed_dim=384, num_heads=6, distilled=True),
    "base_distilled_patch16_224": _deit(embed_dim=768, num_heads=12, distilled=True),
    "base_distilled_patch16_384": _deit(embed_dim=768, num_heads=12, img_size=384, distilled=True),
}


def _distilled_top(inputs, x, *, include_top, pooling, num_classes, drop_rate, classifier_activation, name,
                   weights):
    """timm ``VisionTransformerDistilled.forward_head``: two heads, averaged logits in inference."""
    if not include_top and pooling != "token":
        return finish_model(inputs, x, include_top=False, pooling=pooling, num_classes=num_classes, name=name,
                            weights=weights, num_prefix_tokens=2)
    cls_token = SelectToken(0, name="cls_token_out")(x)
    dist_token = SelectToken(1, name="dist_token_out")(x)
    if drop_rate > 0:
        cls_token = keras.layers.Dropout(drop_rate, name="head_drop")(cls_token)
        dist_token = keras.layers.Dropout(drop_rate, name="head_drop_dist")(dist_token)
    if not include_top:
        return make_model(inputs, keras.layers.Average(name="global_pool")([cls_token, dist_token]), name=name,
                          weights=weights)
    logits = keras.layers.Dense(num_classes, kernel_initializer=dense_init(), name=CLASS_HEAD)(cls_token)
    logits_dist = keras.layers.Dense(num_classes, kernel_initializer=dense_init(), name=DIST_HEAD)(dist_token)
    averaged = keras.layers.Average(name="head_average")([logits, logits_dist])
    outputs = keras.layers.Activation(classifier_activation or "linear", dtype="float32",
                                      name="predictions")(averaged)
    return make_model(inputs, outputs, name=name, weights=weights)


@builder_doc("Builds a DeiT from the `VARIANTS` table (timm ``deit_<variant>``).",
             variant="A key of `VARIANTS`, e.g. ``\"tiny_distilled_patch16_224\"``.", extra=_FAMILY_ARGS,
             min_size=16, poolings=TOKEN_POOLINGS,
             drop_path=" of the last block, growing linearly from 0 over the blocks")
def build_deit(
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
    pos_drop_rate: float = 0.0,
    attn_drop_rate: float = 0.0,
    proj_drop_rate: float = 0.0,
    img_size: int | None = None,
    name: str | None = None,
) -> keras.Model:
    config = resolve_variant(VARIANTS, variant, "DeiT")
    name = name or f"deit_{variant}"
    check_head_args(include_top=include_top, pooling=pooling, num_classes=num_classes, model_name=name,
                    poolings=TOKEN_POOLINGS)
    size = img_size or config.img_size
    inputs = image_input(input_shape or (size, size, 3), min_size=config.patch_size, model_name=name)
    x = vit_tokens(inputs, config, img_size=img_size, drop_path_rate=drop_path_rate, pos_drop_rate=pos_drop_rate,
                   attn_drop_rate=attn_drop_rate, proj_drop_rate=proj_drop_rate)
    if config.distilled:
        return _distilled_top(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes,
                              drop_rate=drop_rate, classifier_activation=classifier_activation, name=name,
                              weights=weights)
    return finish_model(inputs, x, include_top=include_top, pooling=pooling, num_classes=num_classes,
                        drop_rate=drop_rate, classifier_activation=classifier_activation, name=name, weights=weights,
                        classifier_name=CLASS_HEAD, head_pooling="token", num_prefix_tokens=1)


def DeiT(variant: str = "tiny_distilled_patch16_224", **kwargs) -> keras.Model:
    """DeiT-Ti/S/B, plain or distilled (``variant="small_distilled_patch16_224"`` ...); see `build_deit`."""
    return build_deit(variant, **kwargs)


def is_distilled(model: keras.Model) -> bool:
    """Whether `model` has DeiT's two heads (``head`` and ``head_dist``)."""
    names = {layer.name for layer in model.layers}
    return CLASS_HEAD in names and DIST_HEAD in names


def distillation_heads(model: keras.Model) -> keras.Model:
    """A view of a distilled DeiT whose outputs are the two heads' logits ``[cls_logits, dist_logits]``.

    The view is built from the model's own layers, so it shares every weight:
    training the view trains the model, and saving the model saves what the
    view learned. Both outputs are float32 ``[batch, num_classes]`` logits (no
    activation), also under mixed precision. The model itself keeps returning
    the averaged prediction.

    Args:
        model: A distilled DeiT built with ``include_top=True`` (or loaded from a ``.keras`` file).

    Raises:
        ValueError: if `model` has no ``head`` / ``head_dist`` pair.
    """
    if not is_distilled(model):
        raise ValueError(f"{model.name} is not a distilled DeiT: it needs the layers {CLASS_HEAD!r} and {DIST_HEAD!r}")
    outputs = [keras.layers.Activation("linear", dtype="float32", name=f"{label}_logits")(model.get_layer(head).output)
               for label, head in (("cls", CLASS_HEAD), ("dist", DIST_HEAD))]
    return keras.Model(model.input, outputs, name=f"{model.name}_distillation_heads")


# timm's trainable counts at 1000 classes (timm 1.0.31).
NUM_PARAMS = {
    "tiny_patch16_224": 5_717_416,
    "small_patch16_224": 22_050_664,
    "base_patch16_224": 86_567_656,
    "base_patch16_384": 86_859_496,
    "tiny_distilled_patch16_224": 5_910_800,
    "small_distilled_patch16_224": 22_436_432,
    "base_distilled_patch16_224": 87_338_192,
    "base_distilled_patch16_384": 87_630_032,
}

for _variant, _config in VARIANTS.items():
    register_model(ModelSpec(
        name=f"deit_{_variant}",
        family="deit",
        builder=DeiT,
        kwargs={"variant": _variant},
        paper=PAPER,
        reference=f"timm deit_{_variant}",
        num_params=NUM_PARAMS[_variant],
        input_size=_config.img_size,
        min_input_size=_config.patch_size,
        crop_pct=0.9 if _config.img_size == 224 else 1.0,
        interpolation="bicubic",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_info=(FeatureInfo(stride=_config.patch_size, layer="norm", tokens=True,
                                  num_prefix_tokens=2 if _config.distilled else 1),),
    ))
