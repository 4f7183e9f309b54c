"""MoCo v1 and v2: a momentum key encoder and a queue of negative keys.

He et al. 2019, "Momentum Contrast for Unsupervised Visual Representation
Learning", arXiv 1911.05722; Chen et al. 2020, "Improved Baselines with
Momentum Contrastive Learning" (v2), arXiv 2003.04297; reference:
facebookresearch/moco (``moco/builder.py``, ``main_moco.py``).

- Query encoder: backbone + a linear 128-d layer (v1) or Dense(2048) + ReLU
  + Dense(128) (v2, ``--mlp``), biases on, no batch norm in the head.
- Key encoder: a copy, never trained, updated before each forward pass as
  ``k <- m k + (1 - m) q`` (m 0.999) over the trained parameters (its own
  batch-norm statistics come from its own forward passes, as in PyTorch).
- Loss: `tfzoo.losses.contrastive.info_nce_loss` of the normalized query
  against its key (positive) and the 65536 queued keys, temperature 0.07
  (v2: 0.2); then the keys of the global batch (gathered over replicas) are
  enqueued (`tfzoo.losses.contrastive.enqueue`), replacing the oldest.
- Shuffling BN. The reference shuffles the key encoder's batch across GPUs
  so that a query and its key never share batch statistics (which would let
  the model cheat). tfzoo uses the equivalent that also works on one device
  (the reference's CIFAR demo does the same with its ``SplitBatchNorm``):
  each replica splits its batch into ``shuffle_bn_groups`` groups that pass
  the encoder separately (batch norm sees each group alone), and the key
  encoder's batch is randomly permuted before the split and un-permuted
  after, so the members of a query group land in different key groups. The
  query and key groups never coincide, so no group statistic links a query
  to its key. With 8 groups per replica one device behaves like the
  reference's 8 GPUs. ``--shuffle_bn_groups 1`` turns it off.

Differs: the reference's SGD adds weight decay to the gradient (coupled);
tfzoo's ``sgd`` decays decoupled (see `tfzoo.optimizers.create_optimizer`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfzoo.errors import UsageError
from tfzoo.losses.contrastive import enqueue, info_nce_loss, l2_normalize, momentum_update
from tfzoo.layers.ssl_heads import moco_projection_head
from tfzoo.training.tasks.ssl_base import SSLModel, SSLTask, assign_in_sync, copy_model, gather, grouped


def momentum_pairs(online: list, target: list):
    """``(online_variables, target_variables)`` of the trained variables (batch-norm statistics left out)."""
    pairs = [(o, t) for o, t in zip(online, target) if o.trainable]
    return [o for o, _ in pairs], [t for _, t in pairs]


class MoCoModel(SSLModel):
    """MoCo v1/v2 (module docstring).

    Args:
        backbone: Pooled-feature backbone (the query encoder's trunk).
        context: The run's `RunContext`.
        mlp_head: v2's MLP head (else v1's linear layer).
        proj_dim: Key / query width (128).
        proj_hidden_dim: v2 head's hidden width (2048).
        queue_size: Queued keys K (65536); a multiple of the global batch.
        encoder_momentum: Key encoder momentum m (0.999).
        temperature: InfoNCE temperature.
        shuffle_bn_groups: Batch-norm groups per replica (1: one group, no shuffle).
    """

    method = "moco"

    def __init__(self, backbone, context, *, mlp_head=False, proj_dim=128, proj_hidden_dim=2048, queue_size=65536,
                 encoder_momentum=0.999, temperature=0.07, shuffle_bn_groups=8, **kwargs):
        super().__init__(backbone, context, **kwargs)
        self.projector = moco_projection_head(self.feature_dim, out_dim=proj_dim, mlp=mlp_head,
                                              hidden_dim=proj_hidden_dim or None, name="projector")
        self.key_backbone = copy_model(backbone, f"key_{backbone.name}")
        self.key_projector = copy_model(self.projector, "key_projector")
        self.temperature = float(temperature)
        self.encoder_momentum = float(encoder_momentum)
        self.groups = int(shuffle_bn_groups)
        rng = np.random.default_rng(context.seed)
        initial = rng.standard_normal((queue_size, proj_dim)).astype("float32")
        initial /= np.linalg.norm(initial, axis=1, keepdims=True)
        self.queue = keras.Variable(initial, trainable=False, name="queue", aggregation="only_first_replica")
        self.queue_pointer = keras.Variable(0, dtype="int32", trainable=False, name="queue_pointer",
                                            aggregation="only_first_replica")

    def encode(self, backbone, projector, images, permutation=None):
        def forward(part):
            return projector(backbone(part, training=True), training=True)

        return tf.cast(grouped(forward, images, self.groups, permutation), tf.float32)

    def before_step(self, step):
        online, target = momentum_pairs(self.backbone.weights + self.projector.weights,
                                        self.key_backbone.weights + self.key_projector.weights)
        values = momentum_update([v.value for v in online], [v.value for v in target], self.encoder_momentum)
        assign_in_sync(target, values)

    def ssl_loss(self, inputs, step):
        images_q, images_k = inputs["views"][:2]
        q = self.encode(self.backbone, self.projector, images_q)
        permutation = tf.random.shuffle(tf.range(tf.shape(images_k)[0])) if self.groups > 1 else None
        k = tf.stop_gradient(l2_normalize(self.encode(self.key_backbone, self.key_projector, images_k, permutation)))
        loss = info_nce_loss(q, k, self.queue.value, self.temperature)
        return loss, gather(k)

    def apply_updates(self, keys, step):
        queue, pointer = enqueue(self.queue.value, self.queue_pointer.value, keys)
        assign_in_sync([self.queue, self.queue_pointer], [queue, pointer])


class MoCoTask(SSLTask):
    def check_batch(self, context):
        super().check_batch(context)
        per_replica = context.batch_size // context.replicas
        if per_replica % self.ssl.shuffle_bn_groups:
            raise UsageError(f"--shuffle_bn_groups {self.ssl.shuffle_bn_groups} must divide the per-replica batch "
                             f"{per_replica} (each group passes batch norm alone)")
        if self.ssl.queue_size % context.batch_size:
            raise UsageError(f"--queue_size {self.ssl.queue_size} must be a multiple of --batch_size "
                             f"{context.batch_size} (MoCo enqueues whole batches)")

    def build(self, backbone, context):
        return MoCoModel(backbone, context, mlp_head=self.method == "moco_v2", proj_dim=self.ssl.proj_dim,
                         proj_hidden_dim=self.ssl.proj_hidden_dim, queue_size=self.ssl.queue_size,
                         encoder_momentum=self.ssl.encoder_momentum, temperature=self.ssl.temperature,
                         shuffle_bn_groups=self.ssl.shuffle_bn_groups)
