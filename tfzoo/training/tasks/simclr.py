"""SimCLR: NT-Xent between two augmented views, negatives from the global batch.

Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv 2002.05709; reference: google-research/simclr
(``tf2/model.py`` ``ProjectionHead``, ``tf2/objective.py``
``add_contrastive_loss``, ``tf2/run.py`` defaults).

- Head: 3 layers (``--num_proj_layers 3``), the hidden ones Dense (no bias)
  + BN + ReLU at the backbone's feature width, the last Dense(128, no bias) +
  BN without centering, no ReLU; the loss reads the last layer's output.
- Loss: `tfzoo.losses.contrastive.nt_xent_loss` at temperature 0.1, with both
  views' projections gathered over replicas (``all_gather`` is
  differentiable, like the reference's ``tpu_cross_replica_concat``).
- Optimizer: LARS (eta 0.001) with batch-norm parameters and biases excluded
  from weight decay and adaptation (`tfzoo.optimizers.create_optimizer`
  excludes every 1-D variable), lr 0.3 x batch / 256, 10 warmup epochs, cosine.

Differs: the reference's batch norm is global (synchronized over all cores);
here batch norm is per replica (Keras ``BatchNormalization``), which is the
same on one device.
"""

from __future__ import annotations

import tensorflow as tf

from tfzoo.losses.contrastive import nt_xent_loss
from tfzoo.layers.ssl_heads import simclr_projection_head
from tfzoo.training.tasks.ssl_base import SSLModel, SSLTask, gather, replica_offset


class SimCLRModel(SSLModel):
    """Backbone + projection head trained with NT-Xent (module docstring).

    Args:
        backbone: Pooled-feature backbone.
        context: The run's `RunContext`.
        temperature: NT-Xent temperature.
        proj_dim: Output width (128).
        proj_hidden_dim: Hidden width (0: the backbone's feature width).
        num_layers: Projection layers (3).
    """

    method = "simclr"

    def __init__(self, backbone, context, *, temperature=0.1, proj_dim=128, proj_hidden_dim=0, num_layers=3,
                 **kwargs):
        super().__init__(backbone, context, **kwargs)
        hidden = proj_hidden_dim or self.feature_dim
        self.temperature = float(temperature)
        self.projector = simclr_projection_head(self.feature_dim, out_dim=proj_dim, num_layers=num_layers,
                                                hidden_dim=hidden, name="projector")

    def project(self, images, training=True):
        return tf.cast(self.projector(self.backbone(images, training=training), training=training), tf.float32)

    def ssl_loss(self, inputs, step):
        view1, view2 = inputs["views"][:2]
        # One forward over both views, as the reference (batch norm sees the 2N images together).
        z = self.project(tf.concat([view1, view2], axis=0))
        z1, z2 = tf.split(z, 2, axis=0)
        loss = nt_xent_loss(z1, z2, self.temperature, z1_all=gather(z1), z2_all=gather(z2),
                            replica_offset=replica_offset(tf.shape(z1)[0]))
        return loss, None


class SimCLRTask(SSLTask):
    def build(self, backbone, context):
        return SimCLRModel(backbone, context, temperature=self.ssl.temperature, proj_dim=self.ssl.proj_dim,
                           proj_hidden_dim=self.ssl.proj_hidden_dim)
