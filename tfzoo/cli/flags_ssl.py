"""`tfzoo pretrain` flags: the method and its hyperparameters (unset: the method's defaults).

Defined in their own module so that ``--helpfull`` lists them as one group.
What they do: `tfzoo.training.ssl_config` and the task modules in
`tfzoo.training.tasks`.
"""

from __future__ import annotations

from absl import flags

from tfzoo.training.ssl_config import METHODS, SSLConfig

_D = SSLConfig()

# SSLConfig fields set from the flags of the same name (None: the method's default).
SSL_FLAGS = ("temperature", "proj_dim", "proj_hidden_dim", "pred_hidden_dim", "encoder_momentum", "queue_size",
             "shuffle_bn_groups", "num_prototypes", "sinkhorn_epsilon", "sinkhorn_iterations",
             "freeze_prototypes_epochs", "queue_start_epoch", "num_large_crops", "num_small_crops",
             "small_crop_fraction", "small_crop_scale_max", "small_crop_scale_min", "nce_negatives",
             "bank_momentum", "knn_k", "knn_temperature")


def define_ssl_flags() -> None:
    flags.DEFINE_enum("method", None, METHODS, "Self-supervised method (required).")
    flags.DEFINE_float("temperature", None, "Loss temperature (simclr 0.1, moco_v1 0.07, moco_v2 0.2, moco_v3 1.0 "
                       "(ResNet), swav 0.1, instdisc 0.07).")
    flags.DEFINE_integer("proj_dim", None, "Projection output width (128; moco_v3 256).")
    flags.DEFINE_integer("proj_hidden_dim", None, "Projection hidden width (simclr: 0 = the backbone's feature "
                         "width; moco_v2 / swav 2048; moco_v3 4096).")
    flags.DEFINE_integer("pred_hidden_dim", None, "moco_v3: predictor hidden width (4096).")
    flags.DEFINE_float("encoder_momentum", None, "MoCo key-encoder momentum (v1/v2 0.999; v3: 0.99 at the start, "
                       "rising to 1 on a cosine).")
    flags.DEFINE_integer("queue_size", None, "MoCo v1/v2: queued keys (65536), a multiple of --batch_size; swav: "
                         "queued embeddings per large crop (0: off; the paper's small-batch runs: 3840).")
    flags.DEFINE_integer("shuffle_bn_groups", None, "MoCo v1/v2 shuffling BN: batch-norm groups per replica, the "
                         "key batch shuffled across them (8; 1: off).")
    flags.DEFINE_integer("num_prototypes", None, "swav: prototypes (3000).")
    flags.DEFINE_float("sinkhorn_epsilon", None, "swav: Sinkhorn-Knopp epsilon (0.05).")
    flags.DEFINE_integer("sinkhorn_iterations", None, "swav: Sinkhorn-Knopp iterations (3).")
    flags.DEFINE_integer("freeze_prototypes_epochs", None, "swav: epochs with frozen prototypes (1).")
    flags.DEFINE_integer("queue_start_epoch", None, "swav: epoch from which the queue fills (15).")
    flags.DEFINE_integer("num_large_crops", None, "swav: full-size crops (2).")
    flags.DEFINE_integer("num_small_crops", None, "swav: small crops (6).")
    flags.DEFINE_float("small_crop_fraction", None, "swav: small crop side / image size (96/224).")
    flags.DEFINE_float("small_crop_scale_max", None, "swav: largest area fraction of a small crop (0.14).")
    flags.DEFINE_float("small_crop_scale_min", None, "swav: smallest area fraction of a small crop (0.05).")
    flags.DEFINE_integer("nce_negatives", None, "instdisc: NCE noise samples per image (4096; 0: full softmax).")
    flags.DEFINE_float("bank_momentum", None, "instdisc: memory-bank momentum (0.5).")
    flags.DEFINE_integer("knn_k", _D.knn_k, "kNN monitor: neighbours (200).")
    flags.DEFINE_float("knn_temperature", _D.knn_temperature, "kNN monitor: vote weight exp(s / T) (0.07).")
