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
from tfzoo.models._builder import CommonArgs, resolve_variant
from tfzoo.models.registry import IMAGENET_MEAN, IMAGENET_STD
from tfzoo.models.vit import ViTConfig, register_vit_family, vit_doc, vit_trunk

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


def _distilled_top(inputs, x, args: CommonArgs) -> keras.Model:
    """timm ``VisionTransformerDistilled.forward_head``: two heads, averaged logits in inference."""
    if not args.include_top and args.pooling != "token":
        return args.make(inputs, args.pool(x, num_prefix_tokens=2))
    cls_token = SelectToken(0, name="cls_token_out")(x)
    dist_token = SelectToken(1, name="dist_token_out")(x)
    if args.drop_rate > 0:
        cls_token = keras.layers.Dropout(args.drop_rate, name="head_drop")(cls_token)
        dist_token = keras.layers.Dropout(args.drop_rate, name="head_drop_dist")(dist_token)
    if not args.include_top:
        return args.make(inputs, keras.layers.Average(name="global_pool")([cls_token, dist_token]))
    logits = keras.layers.Dense(args.num_classes, kernel_initializer=dense_init(), name=CLASS_HEAD)(cls_token)
    logits_dist = keras.layers.Dense(args.num_classes, kernel_initializer=dense_init(), name=DIST_HEAD)(dist_token)
    averaged = keras.layers.Average(name="head_average")([logits, logits_dist])
    outputs = keras.layers.Activation(args.classifier_activation or "linear", dtype="float32",
                                      name="predictions")(averaged)
    return args.make(inputs, outputs)


@vit_doc("Builds a DeiT from the `VARIANTS` table (timm ``deit_<variant>``).", VARIANTS)
def DeiT(variant: str = "tiny_distilled_patch16_224", **options) -> keras.Model:
    config = resolve_variant(VARIANTS, variant, "DeiT")
    args, inputs, x = vit_trunk(config, options, builder="DeiT", name=f"deit_{variant}")
    if config.distilled:
        return _distilled_top(inputs, x, args)
    return args.finish(inputs, x, classifier_name=CLASS_HEAD, head_pooling="token", num_prefix_tokens=1)


build_deit = DeiT  # the name before the builder contract


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

register_vit_family("deit", DeiT, VARIANTS, counts=NUM_PARAMS, paper=PAPER, mean=IMAGENET_MEAN, std=IMAGENET_STD)
