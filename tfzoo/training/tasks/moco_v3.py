"""MoCo v3: symmetric contrastive loss between an online encoder + predictor and a momentum encoder, no queue.

Chen, Xie, He 2021, "An Empirical Study of Training Self-Supervised Vision
Transformers", arXiv 2104.02057; reference: facebookresearch/moco-v3
(``moco/builder.py`` ``MoCo_ResNet``, ``main_moco.py``).

- Online: backbone + projector (ResNet: Dense 4096, BN, ReLU, Dense 256, BN
  without affine; no biases; ViT: 3 layers) + predictor (Dense 4096, BN,
  ReLU, Dense 256; ViT: a last BN), `tfzoo.layers.ssl_heads`.
- Momentum encoder: a copy of backbone + projector, updated before each
  forward pass with ``m = 1 - (1 + cos(pi * e / E)) / 2 * (1 - m0)``, ``e``
  the fractional epoch (`tfzoo.losses.contrastive.moco_v3_momentum`; m0 0.99),
  read from the optimizer's step counter so that resume continues the schedule.
- Loss: ``ctr(q1, k2) + ctr(q2, k1)`` with ``ctr`` =
  `tfzoo.losses.contrastive.moco_v3_loss` (cross-entropy against the keys of
  the global batch, gathered over replicas, scaled by 2T), temperature 1.0
  for ResNet (the ViT recipes: 0.2).

Differs: the reference converts every batch norm to SyncBatchNorm; here
batch norm is per replica (identical on one device). ViT backbones train
as any other backbone; the reference's frozen random patch projection and
fixed 2D sin-cos position embedding are options of the ViT builders, not of
this task.
"""

from __future__ import annotations

import tensorflow as tf

from tfzoo.losses.contrastive import momentum_update, moco_v3_loss, moco_v3_momentum
from tfzoo.layers.ssl_heads import moco_v3_predictor, moco_v3_projector
from tfzoo.training.tasks.moco import momentum_pairs
from tfzoo.training.tasks.ssl_base import SSLModel, SSLTask, assign_in_sync, copy_model, gather, replica_offset


class MoCoV3Model(SSLModel):
    """MoCo v3 (module docstring).

    Args:
        backbone: Pooled-feature backbone.
        context: The run's `RunContext` (epochs and steps drive the momentum schedule).
        proj_dim: Output width (256).
        proj_hidden_dim: Projector hidden width (4096).
        pred_hidden_dim: Predictor hidden width (4096).
        encoder_momentum: m0 (0.99), rising to 1.
        temperature: T (1.0 for ResNet).
        kind: ``resnet`` (2-layer projector, predictor without the last BN) or ``vit`` (3 layers, with it).
    """

    method = "moco_v3"

    def __init__(self, backbone, context, *, proj_dim=256, proj_hidden_dim=4096, pred_hidden_dim=4096,
                 encoder_momentum=0.99, temperature=1.0, kind="resnet", **kwargs):
        super().__init__(backbone, context, **kwargs)
        self.projector = moco_v3_projector(self.feature_dim, kind, dim=proj_dim, mlp_dim=proj_hidden_dim)
        self.predictor = moco_v3_predictor(kind, dim=proj_dim, mlp_dim=pred_hidden_dim)
        self.momentum_backbone = copy_model(backbone, f"momentum_{backbone.name}")
        self.momentum_projector = copy_model(self.projector, "momentum_projector")
        self.base_momentum = float(encoder_momentum)
        self.temperature = float(temperature)

    def momentum(self, step):
        return moco_v3_momentum(self.epoch_fraction(step), self.total_epochs, self.base_momentum)

    def before_step(self, step):
        online, target = momentum_pairs(self.backbone.weights + self.projector.weights,
                                        self.momentum_backbone.weights + self.momentum_projector.weights)
        values = momentum_update([v.value for v in online], [v.value for v in target], self.momentum(step))
        assign_in_sync(target, values)

    def ssl_loss(self, inputs, step):
        x1, x2 = inputs["views"][:2]
        # The reference runs each view through the encoders separately (batch norm per view).
        q1, q2 = (tf.cast(self.predictor(self.projector(self.backbone(x, training=True), training=True),
                                         training=True), tf.float32) for x in (x1, x2))
        k1, k2 = (tf.stop_gradient(tf.cast(self.momentum_projector(
            self.momentum_backbone(x, training=True), training=True), tf.float32)) for x in (x1, x2))
        offset = replica_offset(tf.shape(q1)[0])
        loss = (moco_v3_loss(q1, k2, self.temperature, k_all=gather(k2), replica_offset=offset)
                + moco_v3_loss(q2, k1, self.temperature, k_all=gather(k1), replica_offset=offset))
        return loss, None


class MoCoV3Task(SSLTask):
    def build(self, backbone, context):
        return MoCoV3Model(backbone, context, proj_dim=self.ssl.proj_dim, proj_hidden_dim=self.ssl.proj_hidden_dim,
                           pred_hidden_dim=self.ssl.pred_hidden_dim, encoder_momentum=self.ssl.encoder_momentum,
                           temperature=self.ssl.temperature,
                           kind="vit" if self.is_token_backbone(backbone) else "resnet")

    @staticmethod
    def is_token_backbone(backbone) -> bool:
        """True for a token backbone (a ViT: its pooled output is a class token)."""
        return any("cls_token" in variable.path for variable in backbone.weights)
