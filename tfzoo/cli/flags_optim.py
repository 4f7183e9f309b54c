"""`tfzoo train` flags for the optimizer, learning-rate schedule and weight EMA.

Defined in their own module so that ``--helpfull`` lists them as one group
(absl groups flags by the module that defines them).
"""

from __future__ import annotations

from absl import flags

from tfzoo.training.config import LR_SCHEDULES, OPTIMIZERS, TrainConfig

_D = TrainConfig()


def define_optim_flags() -> None:
    flags.DEFINE_enum("optimizer", _D.optimizer, OPTIMIZERS,
                      "Optimizer: adamw/adam, sgd/sgdw/nesterov (Keras SGD, decoupled weight decay), "
                      "lamb (arXiv 1904.00962) or lars (arXiv 1708.03888, SimCLR's form).")
    flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the dataset's recipe, e.g. 3e-3 for "
                       "digits, else 1e-3 for adam/adamw, 5e-3 for lamb, 0.1 for sgd, 1.0 for lars).")
    flags.DEFINE_integer("lr_base_batch", None, "Linear scaling rule: when set, the peak learning rate is "
                         "--learning_rate * --batch_size / --lr_base_batch (e.g. 256); unset: used as given.")
    flags.DEFINE_float("weight_decay", _D.weight_decay, "Weight decay (biases, norm parameters, position "
                       "embeddings and class tokens excluded).")
    flags.DEFINE_float("momentum", _D.momentum, "Momentum for sgd / sgdw / nesterov / lars.")
    flags.DEFINE_float("trust_coefficient", _D.trust_coefficient, "lars: trust coefficient eta of the "
                       "layer-wise rate lr * eta * |w| / |g + weight_decay * w|.")
    flags.DEFINE_float("warmup_epochs", _D.warmup_epochs, "Linear warmup epochs before the decay.")
    flags.DEFINE_enum("lr_schedule", _D.lr_schedule, LR_SCHEDULES, "Decay after the warmup.")
    flags.DEFINE_float("lr_step_epochs", None, "step schedule: epochs between decays (default: a third of "
                       "the run).")
    flags.DEFINE_float("lr_decay_rate", _D.lr_decay_rate, "step schedule: factor per decay.")
    flags.DEFINE_float("lr_poly_power", _D.lr_poly_power, "poly schedule: exponent (1: linear).")
    flags.DEFINE_float("agc", _D.agc, "Adaptive gradient clipping lambda (NFNets, e.g. 0.01); 0 turns it off.")
    flags.DEFINE_float("ema", None, "Decay of an exponential moving average of the weights (e.g. 0.9999 for "
                       "ImageNet-length runs, 0.99 for ~700 steps); validation, model.keras and the final "
                       "metrics use it. Unset: off.")
