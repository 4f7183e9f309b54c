"""`tfzoo train` flags for augmentation and regularization.

Defined in their own module so that ``--helpfull`` lists them as one group
(absl groups flags by the module that defines them).
"""

from __future__ import annotations

from absl import flags

from tfzoo.training.config import TrainConfig

_D = TrainConfig()


def define_augment_flags() -> None:
    flags.DEFINE_float("crop_scale_min", None, "Smallest random-resized-crop area fraction (default: the "
                       "dataset's recipe, e.g. 0.5 for digits, else 0.08).")
    flags.DEFINE_boolean("hflip", None, "Random horizontal flips (default: the dataset's recipe, off for "
                         "digits, else on); --nohflip turns them off.")
    flags.DEFINE_float("label_smoothing", _D.label_smoothing, "Label smoothing of the cross-entropy loss "
                       "(also applied to mixup/cutmix targets).")
    flags.DEFINE_float("mixup", _D.mixup, "Mixup alpha (e.g. 0.8; 0: off).")
    flags.DEFINE_float("cutmix", _D.cutmix, "CutMix alpha (e.g. 1.0; 0: off).")
    flags.DEFINE_float("mix_prob", _D.mix_prob, "Probability of mixing a batch with mixup or cutmix.")
    flags.DEFINE_float("mix_switch_prob", _D.mix_switch_prob, "With both on: probability of cutmix over mixup.")
    flags.DEFINE_integer("rand_augment_ops", _D.rand_augment_ops, "RandAugment ops per image (e.g. 2; 0: off).")
    flags.DEFINE_float("rand_augment_magnitude", _D.rand_augment_magnitude, "RandAugment magnitude, 0..10.")
    flags.DEFINE_float("random_erasing", _D.random_erasing, "Random-erasing probability per image (e.g. 0.25).")
    flags.DEFINE_integer("aug_repeats", _D.aug_repeats, "Repeated augmentation: copies of each example, "
                         "augmented independently (e.g. 3 as DeiT; 1: off).")
    flags.DEFINE_float("drop_rate", None, "Classifier dropout (default: the model's).")
    flags.DEFINE_alias("dropout", "drop_rate")
    flags.DEFINE_float("drop_path_rate", None, "Stochastic depth rate (default: the model's).")
