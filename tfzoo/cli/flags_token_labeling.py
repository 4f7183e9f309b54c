"""`tfzoo train` flags for token labeling (LV-ViT), in their own module so ``--helpfull`` groups them."""

from __future__ import annotations

from absl import flags

from tfzoo.training.config import TrainConfig

_D = TrainConfig()
TOKEN_LABELING_FLAGS = ("token_labels", "mixtoken", "cls_weight", "dense_weight")


def define_token_labeling_flags() -> None:
    flags.DEFINE_string("token_labels", _D.token_labels, "Label directory written by `tfzoo relabel`: train an "
                        "LV-ViT with token labeling (default: plain labels, class head only).")
    flags.DEFINE_boolean("mixtoken", _D.mixtoken, "MixToken: swap a random box of patch tokens between the "
                         "images of a batch (needs --token_labels).")
    flags.DEFINE_float("cls_weight", _D.cls_weight, "Token labeling: weight of the class-token loss.")
    flags.DEFINE_float("dense_weight", _D.dense_weight, "Token labeling: weight of the dense token loss.")
