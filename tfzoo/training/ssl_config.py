"""Self-supervised pre-training settings and each method's defaults (no TensorFlow: the CLI resolves them).

`SSLConfig` holds what a method adds to a `tfzoo.training.TrainConfig`
(which carries it as ``config.ssl``). Every field left None takes the
method's default from `METHOD_DEFAULTS`; run-level settings the method
decides (optimizer, learning rate, weight decay, schedule, batch size,
epochs, crop scale) come from `RUN_DEFAULTS` unless set. The values are
the papers' ImageNet settings as their official code sets them:

- SimCLR (Chen et al. 2020, arXiv 2002.05709; google-research/simclr ``tf2/``):
  LARS (eta 0.001, BN and biases excluded), lr 0.3 x batch / 256, weight
  decay 1e-6, 10 warmup epochs then cosine, temperature 0.1, 3-layer
  projection head (hidden = feature width, output 128), crop 0.08-1.
- MoCo v1 (He et al. 2019, arXiv 1911.05722) and v2 (Chen et al. 2020,
  arXiv 2003.04297), facebookresearch/moco ``main_moco.py``: SGD lr 0.03 at
  batch 256, weight decay 1e-4, momentum 0.9, 200 epochs, key-encoder
  momentum 0.999, queue 65536 of 128-d keys, temperature 0.07 (v2: 0.2,
  2-layer MLP head with hidden 2048, blur, cosine schedule); crop 0.2-1.
  v1's schedule multiplies the rate by 0.1 at epochs 120 and 160; tfzoo's
  ``step`` schedule decays every ``lr_step_epochs`` (120 here), so only the
  first decay falls inside 200 epochs.
- MoCo v3 (Chen, Xie, He 2021, arXiv 2104.02057), facebookresearch/moco-v3
  ``main_moco.py`` for ResNet-50 at 100 epochs: LARS lr 0.6 x batch / 256
  (README: ``--lr=.6 --wd=1e-6 --moco-m-cos --moco-t=1.0``), momentum
  0.99 rising to 1 on a cosine, temperature 1.0, projector 4096-4096-256 and
  predictor 4096-256 with BN (last BN without affine), 10 warmup epochs.
- SwAV (Caron et al. 2020, arXiv 2006.09882), facebookresearch/swav
  ``main_swav.py`` (100-epoch LARS recipe): lr 0.3 x batch / 256 (4.8 at
  4096), weight decay 1e-6, 10 warmup epochs, Sinkhorn epsilon 0.05 with 3
  iterations, temperature 0.1, 3000 prototypes, projector 2048-128,
  multi-crop 2 x 224 (scale 0.14-1) + 6 x 96 (0.05-0.14), prototypes frozen
  in the first epoch, queue (3840) from epoch 15 only when ``queue_size`` > 0.
- Instance discrimination (Wu et al. 2018, arXiv 1805.01978),
  zhirongw/lemniscate.pytorch ``main.py``: SGD lr 0.03, weight decay 5e-4,
  momentum 0.9, 200 epochs (decay at 120 and 160: see MoCo v1), a linear
  128-d embedding, memory bank momentum 0.5, NCE with 4096 negatives and
  temperature 0.07 (``--nce-k 4096 --nce-t 0.07 --nce-m 0.5``), or the full
  softmax over the bank (``--nce-k 0``).
"""

from __future__ import annotations

import dataclasses

from tfzoo.errors import UsageError

METHODS = ("simclr", "moco_v1", "moco_v2", "moco_v3", "swav", "instdisc")


@dataclasses.dataclass
class SSLConfig:
    """What a self-supervised method adds to a run (None: the method's default).

    Attributes:
        method: One of `METHODS`.
        temperature: Softmax temperature of the contrastive / swapped-prediction loss.
        proj_dim: Output width of the projection head (MoCo v1 / instdisc: the linear embedding).
        proj_hidden_dim: Hidden width of the projection MLP (0: the backbone's feature width).
        pred_hidden_dim: MoCo v3 predictor hidden width.
        encoder_momentum: MoCo key-encoder momentum (MoCo v3: its start, rising to 1 on a cosine).
        queue_size: MoCo's key queue; SwAV's feature queue (0: none).
        shuffle_bn_groups: MoCo v1/v2: batch-norm groups per replica for shuffling BN (1: off).
        num_prototypes: SwAV prototypes.
        sinkhorn_epsilon: SwAV Sinkhorn-Knopp epsilon.
        sinkhorn_iterations: SwAV Sinkhorn-Knopp iterations.
        freeze_prototypes_epochs: SwAV: epochs during which the prototypes get no update.
        queue_start_epoch: SwAV: epoch (0-based) from which the queue is used.
        num_large_crops: SwAV multi-crop: large crops (the two assigned views).
        num_small_crops: SwAV multi-crop: small crops.
        small_crop_fraction: SwAV: small crop side / large crop side (96 / 224).
        small_crop_scale_max: SwAV: the small crops' largest area fraction (and the large ones' smallest).
        small_crop_scale_min: SwAV: the small crops' smallest area fraction.
        nce_negatives: instdisc: noise samples per example (0: full softmax over the bank).
        bank_momentum: instdisc: memory-bank momentum.
        knn_k: kNN monitor neighbours.
        knn_temperature: kNN monitor similarity temperature.
    """

    method: str = "simclr"
    temperature: float | None = None
    proj_dim: int | None = None
    proj_hidden_dim: int | None = None
    pred_hidden_dim: int | None = None
    encoder_momentum: float | None = None
    queue_size: int | None = None
    shuffle_bn_groups: int | None = None
    num_prototypes: int | None = None
    sinkhorn_epsilon: float | None = None
    sinkhorn_iterations: int | None = None
    freeze_prototypes_epochs: int | None = None
    queue_start_epoch: int | None = None
    num_large_crops: int | None = None
    num_small_crops: int | None = None
    small_crop_fraction: float | None = None
    small_crop_scale_max: float | None = None
    small_crop_scale_min: float | None = None
    nce_negatives: int | None = None
    bank_momentum: float | None = None
    knn_k: int = 200
    knn_temperature: float = 0.07

    def resolved(self) -> "SSLConfig":
        """A copy whose None fields take the method's defaults (fields a method does not use stay None)."""
        check_method(self.method)
        values = {key: value for key, value in METHOD_DEFAULTS[self.method].items() if getattr(self, key) is None}
        return dataclasses.replace(self, **values).validate()

    def validate(self) -> "SSLConfig":
        """Checks the values a user can get wrong, one flag per message.

        Raises:
            UsageError: naming the flag and its allowed range.
        """
        from tfzoo.training.config import check_range

        check_method(self.method)
        for key in ("temperature", "sinkhorn_epsilon", "knn_temperature"):
            if getattr(self, key) is not None:
                check_range(key, getattr(self, key), low=0, low_open=True)
        for key in ("encoder_momentum", "bank_momentum"):
            if getattr(self, key) is not None:
                check_range(key, getattr(self, key), low=0, high=1)
        for key in ("small_crop_fraction", "small_crop_scale_max", "small_crop_scale_min"):
            if getattr(self, key) is not None:
                check_range(key, getattr(self, key), low=0, high=1, low_open=True)
        positive = ("proj_dim", "num_prototypes", "sinkhorn_iterations", "num_large_crops", "knn_k",
                    "shuffle_bn_groups")
        non_negative = ("proj_hidden_dim", "pred_hidden_dim", "queue_size", "freeze_prototypes_epochs",
                        "queue_start_epoch", "num_small_crops", "nce_negatives")
        for key in positive + non_negative:
            value = getattr(self, key)
            low = 1 if key in positive else 0
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                kind = "a positive integer" if low else "an integer >= 0"
                raise UsageError(f"--{key} must be {kind}, got {value}")
        if self.method == "swav" and self.num_large_crops is not None and self.num_large_crops < 2:
            raise UsageError(f"--num_large_crops must be >= 2 for swav (two views swap their codes), got "
                             f"{self.num_large_crops}")
        if (self.small_crop_scale_min is not None and self.small_crop_scale_max is not None
                and self.small_crop_scale_min >= self.small_crop_scale_max):
            raise UsageError(f"--small_crop_scale_min {self.small_crop_scale_min} must be below "
                             f"--small_crop_scale_max {self.small_crop_scale_max}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_method(method) -> None:
    if method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")


# Method hyperparameters (SSLConfig fields), from each paper's official code (module docstring).
_MOCO = dict(temperature=0.07, proj_dim=128, proj_hidden_dim=0, encoder_momentum=0.999, queue_size=65536,
             shuffle_bn_groups=8)
METHOD_DEFAULTS = {
    "simclr": dict(temperature=0.1, proj_dim=128, proj_hidden_dim=0),
    "moco_v1": dict(_MOCO),
    "moco_v2": dict(_MOCO, temperature=0.2, proj_hidden_dim=2048),
    "moco_v3": dict(temperature=1.0, proj_dim=256, proj_hidden_dim=4096, pred_hidden_dim=4096,
                    encoder_momentum=0.99),
    "swav": dict(temperature=0.1, proj_dim=128, proj_hidden_dim=2048, num_prototypes=3000, sinkhorn_epsilon=0.05,
                 sinkhorn_iterations=3, freeze_prototypes_epochs=1, queue_size=0, queue_start_epoch=15,
                 num_large_crops=2, num_small_crops=6, small_crop_fraction=96 / 224, small_crop_scale_max=0.14,
                 small_crop_scale_min=0.05),
    "instdisc": dict(temperature=0.07, proj_dim=128, nce_negatives=4096, bank_momentum=0.5),
}

# Run settings (TrainConfig fields) each method sets when the user leaves them unset.
_SGD_200 = dict(optimizer="sgd", learning_rate=0.03, weight_decay=1e-4, momentum=0.9, warmup_epochs=0.0,
                epochs=200, batch_size=256, lr_schedule="step", lr_step_epochs=120.0, lr_decay_rate=0.1,
                lr_base_batch=None, crop_scale_min=0.2, hflip=True)
RUN_DEFAULTS = {
    "simclr": dict(optimizer="lars", learning_rate=0.3, lr_base_batch=256, weight_decay=1e-6, momentum=0.9,
                   warmup_epochs=10.0, epochs=100, batch_size=4096, lr_schedule="cosine", trust_coefficient=0.001,
                   crop_scale_min=0.08, hflip=True),
    "moco_v1": dict(_SGD_200),
    "moco_v2": dict(_SGD_200, lr_schedule="cosine", lr_step_epochs=None),
    "moco_v3": dict(optimizer="lars", learning_rate=0.6, lr_base_batch=256, weight_decay=1e-6, momentum=0.9,
                    warmup_epochs=10.0, epochs=100, batch_size=4096, lr_schedule="cosine", trust_coefficient=0.001,
                    crop_scale_min=0.08, hflip=True),
    "swav": dict(optimizer="lars", learning_rate=0.3, lr_base_batch=256, weight_decay=1e-6, momentum=0.9,
                 warmup_epochs=10.0, epochs=100, batch_size=4096, lr_schedule="cosine", trust_coefficient=0.001,
                 crop_scale_min=0.14, hflip=True),
    "instdisc": dict(_SGD_200, weight_decay=5e-4),
}


def pretrain_config(method: str, unset=(), **fields):
    """A `TrainConfig` for self-supervised pre-training with `method`'s defaults where `fields` leave them.

    Args:
        method: One of `METHODS`.
        unset: Names of `fields` that hold a flag's default rather than a
            user's choice (the CLI passes its unset flags): the method's
            default wins for those.
        **fields: `TrainConfig` fields and `SSLConfig` fields (by name).

    Returns:
        The `TrainConfig` with ``ssl`` set (method fields resolved when the run starts).
    """
    from tfzoo.training.config import TrainConfig

    check_method(method)
    ssl_names = {field.name for field in dataclasses.fields(SSLConfig)} - {"method"}
    ssl_fields = {key: fields.pop(key) for key in list(fields) if key in ssl_names}
    run_fields = dict(RUN_DEFAULTS[method])
    run_fields.update({key: value for key, value in fields.items() if key not in unset or key not in run_fields})
    run_fields.setdefault("label_smoothing", 0.0)  # no labels are learned
    return TrainConfig(**run_fields, ssl=SSLConfig(method=method, **ssl_fields))
