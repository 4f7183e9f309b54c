"""SwAV: online clustering, swapped prediction of Sinkhorn codes across multi-crop views.

Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting
Cluster Assignments", arXiv 2006.09882; reference: facebookresearch/swav
(``main_swav.py``, ``src/resnet50.py``).

- Head: Dense 2048 + BN + ReLU + Dense 128, L2-normalized, then 3000
  prototypes (a bias-free Dense), re-normalized to unit length before every
  step (`tfzoo.losses.swav.normalize_prototypes`).
- Multi-crop: 2 large crops and 6 small ones (96/224 of the side); crops of
  one size pass the backbone together, as the reference groups them.
- Codes: `tfzoo.losses.swav.sinkhorn_knopp` (epsilon 0.05, 3 iterations) of
  each large crop's prototype scores, the sums all-reduced over replicas and
  B the global batch; loss `tfzoo.losses.swav.swav_loss` at temperature 0.1.
- Prototypes get no update during the first ``freeze_prototypes_epochs``
  epoch(s) (the reference: ``freeze_prototypes_niters``), decided from the
  optimizer's step counter.
- Optional queue (``--queue_size`` > 0): from ``queue_start_epoch`` on, the
  embeddings of the large crops are stored, newest first
  (`tfzoo.losses.swav.queue_push`); once full, their scores are prepended
  before Sinkhorn. The queue is the global one (every replica stores the
  gathered batch) and each replica uses its ``1/replicas`` slice, as the
  reference keeps ``queue_length / world_size`` rows per GPU.
- LARS (the default optimizer) adapts and decays every variable, batch-norm
  scales and shifts and biases included, as the reference's ``LARC`` over
  ``model.parameters()`` does (`SwAVTask.optimizer_arguments`).

Differs: while frozen, the reference drops the prototypes' gradient (no
weight decay, no momentum); here their value is restored after the step,
so their momentum buffer sees the weight-decay term only. Batch norm is per
replica (the reference: SyncBatchNorm).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfzoo.losses.swav import normalize_prototypes, queue_push, sinkhorn_knopp, swav_loss
from tfzoo.layers.ssl_heads import swav_head
from tfzoo.training.tasks.ssl_base import (SSLModel, SSLTask, all_reduce_sum, assign_in_sync, call_model, gather,
                                           num_replicas)


class SwAVModel(SSLModel):
    """SwAV (module docstring).

    Args:
        backbone: Pooled-feature backbone.
        context: The run's `RunContext`.
        num_large_crops: Large crops (codes are computed for the first two).
        proj_dim / proj_hidden_dim: Head widths (128 / 2048).
        num_prototypes: K (3000).
        temperature: T (0.1).
        sinkhorn_epsilon / sinkhorn_iterations: 0.05 / 3.
        freeze_prototypes_epochs: Epochs without prototype updates (1).
        queue_size: Stored embeddings per large crop (0: no queue).
        queue_start_epoch: First epoch that fills the queue.
    """

    method = "swav"

    def __init__(self, backbone, context, *, num_large_crops=2, proj_dim=128, proj_hidden_dim=2048,
                 num_prototypes=3000, temperature=0.1, sinkhorn_epsilon=0.05, sinkhorn_iterations=3,
                 freeze_prototypes_epochs=1, queue_size=0, queue_start_epoch=15, **kwargs):
        super().__init__(backbone, context, **kwargs)
        self.head = swav_head(self.feature_dim, hidden_dim=proj_hidden_dim, out_dim=proj_dim,
                              num_prototypes=num_prototypes, name="head")
        self.num_large_crops = int(num_large_crops)
        self.crops_for_assign = (0, 1)
        self.temperature = float(temperature)
        self.epsilon = float(sinkhorn_epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.freeze_steps = int(freeze_prototypes_epochs) * self.steps_per_epoch
        self.queue_start_step = int(queue_start_epoch) * self.steps_per_epoch
        self.queue = None
        if queue_size:
            self.queue = keras.Variable(tf.zeros((len(self.crops_for_assign), queue_size, proj_dim)),
                                        trainable=False, name="queue", aggregation="only_first_replica")

    def prototypes(self):
        """The bias-free Dense layer of the prototypes (a method: Keras saves what attributes hold, once)."""
        return self.head.get_layer("prototypes")

    def before_step(self, step):
        kernel = self.prototypes().kernel
        assign_in_sync([kernel], [normalize_prototypes(kernel.value)])

    def gradient_mask(self, step):
        if not self.freeze_steps:
            return {}
        return {self.prototypes().kernel.path: step < self.freeze_steps}

    def embed(self, views):
        """Normalized embeddings and prototype scores of every crop (crops of one size pass the backbone together)."""
        batch = tf.shape(views[0])[0]
        features = []
        for start, stop in ((0, self.num_large_crops), (self.num_large_crops, len(views))):
            if stop > start:
                features.append(call_model(self.backbone, tf.concat(views[start:stop], axis=0), training=True))
        embedding, scores = self.head(tf.concat(features, axis=0), training=True)
        return tf.cast(embedding, tf.float32), tf.cast(scores, tf.float32), batch

    def ssl_loss(self, inputs, step):
        views = list(inputs["views"])
        embedding, scores, batch = self.embed(views)
        per_crop = tf.split(scores, len(views), axis=0)
        replicas = num_replicas()
        codes = []
        for position, crop in enumerate(self.crops_for_assign):
            crop_scores = tf.stop_gradient(per_crop[crop])
            if self.queue is not None:
                queue = self._my_queue_slice(position, replicas)
                in_use = tf.logical_and(step >= self.queue_start_step, tf.reduce_any(tf.not_equal(queue[-1], 0.0)))
                queued_scores = tf.matmul(queue, tf.stop_gradient(self.prototypes().kernel.value))
                with_queue = tf.concat([queued_scores, crop_scores], axis=0)
                q_with = sinkhorn_knopp(with_queue, self.epsilon, self.sinkhorn_iterations, all_reduce_sum,
                                        world_batch=tf.shape(with_queue)[0] * replicas)[-batch:]
                q_without = sinkhorn_knopp(crop_scores, self.epsilon, self.sinkhorn_iterations, all_reduce_sum,
                                           world_batch=batch * replicas)
                codes.append(tf.where(in_use, q_with, q_without))
            else:
                codes.append(sinkhorn_knopp(crop_scores, self.epsilon, self.sinkhorn_iterations, all_reduce_sum,
                                            world_batch=batch * replicas))
        loss = swav_loss(per_crop, codes, self.crops_for_assign, self.temperature)
        large = [tf.stop_gradient(gather(tf.split(embedding, len(views), axis=0)[crop]))
                 for crop in self.crops_for_assign]
        return loss, large

    def _my_queue_slice(self, position, replicas):
        queue = self.queue.value[position]
        if replicas == 1:
            return queue
        rows = self.queue.shape[1] // replicas
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.slice(queue, [tf.cast(replica, tf.int32) * rows, 0], [rows, -1])

    def apply_updates(self, large, step):
        if self.queue is None:
            return
        pushed = tf.stack([queue_push(self.queue.value[i], large[i]) for i in range(len(large))])
        assign_in_sync([self.queue], [tf.where(step >= self.queue_start_step, pushed, self.queue.value)])


class SwAVTask(SSLTask):
    def optimizer_arguments(self, optimizer: str) -> dict:
        # The reference wraps SGD in LARC (clip off) over every parameter: batch-norm scales and shifts and biases
        # are weight-decayed and layer-adapted like the weights. SimCLR and MoCo v3 leave them out (the LARS
        # default here, from the model's 1-d variables).
        if optimizer == "lars":
            return {"exclude_from_weight_decay": [], "exclude_from_layer_adaptation": []}
        return {}

    def views(self, preprocess):
        from tfzoo.data import ssl_augment

        ssl = self.ssl
        return ssl_augment.multi_crop_fn(
            preprocess.image_size, preprocess, num_crops=(ssl.num_large_crops, ssl.num_small_crops),
            size_fractions=(1.0, ssl.small_crop_fraction),
            scales=((self.config.crop_scale_min, 1.0), (ssl.small_crop_scale_min, ssl.small_crop_scale_max)),
            seed=self.config.seed, **self.augment_overrides())

    def build(self, backbone, context):
        ssl = self.ssl
        return SwAVModel(backbone, context, num_large_crops=ssl.num_large_crops, proj_dim=ssl.proj_dim,
                         proj_hidden_dim=ssl.proj_hidden_dim, num_prototypes=ssl.num_prototypes,
                         temperature=ssl.temperature, sinkhorn_epsilon=ssl.sinkhorn_epsilon,
                         sinkhorn_iterations=ssl.sinkhorn_iterations,
                         freeze_prototypes_epochs=ssl.freeze_prototypes_epochs, queue_size=ssl.queue_size,
                         queue_start_epoch=ssl.queue_start_epoch)
