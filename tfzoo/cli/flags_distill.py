"""`tfzoo train` flags for knowledge distillation (DeiT's hard and soft distillation).

Defined in their own module so that ``--helpfull`` lists them as one group
(absl groups flags by the module that defines them). What they do:
`tfzoo.training.tasks.distillation`.
"""

from __future__ import annotations

from absl import flags

from tfzoo.training.config import DISTILLATIONS, TrainConfig

_D = TrainConfig()

# TrainConfig fields set from the flags of the same name.
DISTILL_FLAGS = ("teacher", "teacher_weights", "distillation", "distillation_alpha", "distillation_tau")


def define_distill_flags() -> None:
    flags.DEFINE_string("teacher", None, "Distillation teacher: a run directory (its model.keras), a `tfzoo export` "
                        "directory (its probabilities; log-probabilities serve as logits), or a registered model "
                        "name together with --teacher_weights. It sees the student's augmented batch, "
                        "renormalized / resized to its own preprocessing, and is never trained or saved.")
    flags.DEFINE_string("teacher_weights", None, "Weights of a teacher given by model name: a .keras model or a "
                        ".weights.h5 file of that architecture with the student's number of classes.")
    flags.DEFINE_enum("distillation", _D.distillation, DISTILLATIONS,
                      "Distillation type (DeiT, arXiv 2012.12877): hard = cross-entropy on the teacher's argmax, "
                      "soft = tau^2 * KL at temperature tau; none = plain training. A model with a distillation "
                      "token (head_dist) learns the teacher there and the labels on its class head.")
    flags.DEFINE_float("distillation_alpha", _D.distillation_alpha, "Weight of the teacher term in [0, 1]; the "
                       "label term gets 1 - alpha (DeiT: 0.5).")
    flags.DEFINE_float("distillation_tau", _D.distillation_tau, "Soft distillation temperature tau > 0 (DeiT: 1.0).")
