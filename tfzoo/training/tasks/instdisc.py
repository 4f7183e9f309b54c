"""Instance discrimination with a memory bank (NCE or the full non-parametric softmax).

Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", arXiv 1805.01978; reference: zhirongw/lemniscate.pytorch
(``main.py``, ``lib/NCEAverage.py``, ``lib/LinearAverage.py``).

- Embedding: backbone + a linear 128-d layer, L2-normalized.
- Memory bank: one 128-d row per training image (initialized uniformly,
  `tfzoo.losses.nce.memory_bank_init`), read by the loss and then rewritten
  at the batch's rows as ``normalize(0.5 * old + 0.5 * f)``
  (`tfzoo.losses.nce.memory_bank_update`), with the rows and features of the
  global batch (gathered over replicas), so every replica's bank is the same.
- Loss: `tfzoo.losses.nce.nce_loss` with 4096 uniformly drawn noise rows per
  image, temperature 0.07 and the normalizing constant Z fixed from the first
  batch (kept in a variable, so resume keeps it); ``--nce_negatives 0``: the
  full softmax over the bank (`tfzoo.losses.nce.full_softmax_loss`).
- The kNN monitor reads the train features from the bank, as the reference does.

Differs: the reference's SGD couples weight decay to the gradient; tfzoo's
``sgd`` decays decoupled (see `tfzoo.optimizers.create_optimizer`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfzoo.losses.nce import full_softmax_loss, memory_bank_init, memory_bank_update, nce_loss
from tfzoo.layers.ssl_heads import instdisc_head
from tfzoo.training.tasks.base import Untracked
from tfzoo.training.tasks.ssl_base import (SSLModel, SSLTask, all_reduce_mean, assign_in_sync, gather,
                                           scatter_in_sync)


class InstDiscModel(SSLModel):
    """Instance discrimination (module docstring).

    Args:
        backbone: Pooled-feature backbone.
        context: The run's `RunContext` (``num_train`` sizes the bank).
        proj_dim: Embedding width (128).
        nce_negatives: Noise rows per image (0: full softmax).
        temperature: T (0.07).
        bank_momentum: Memory momentum (0.5).
    """

    method = "instdisc"

    def __init__(self, backbone, context, *, proj_dim=128, nce_negatives=4096, temperature=0.07, bank_momentum=0.5,
                 **kwargs):
        super().__init__(backbone, context, **kwargs)
        self.projector = instdisc_head(self.feature_dim, out_dim=proj_dim, name="projector")
        self.nce_negatives = int(nce_negatives)
        self.temperature = float(temperature)
        self.bank_momentum = float(bank_momentum)
        self.memory_bank = keras.Variable(memory_bank_init(context.num_train, proj_dim, seed=context.seed),
                                          trainable=False, name="memory_bank", aggregation="only_first_replica")
        self.nce_z = keras.Variable(-1.0, trainable=False, name="nce_z", aggregation="only_first_replica")
        self.noise_seed = keras.random.SeedGenerator(context.seed + 17, name="noise_seed")
        self._embedding = None

    def ssl_loss(self, inputs, step):
        images = inputs["views"][0]
        indices = inputs["index"]
        features = tf.cast(self.projector(self.backbone(images, training=True), training=True), tf.float32)
        bank = self.memory_bank.value
        if self.nce_negatives:
            loss, z = nce_loss(features, indices, bank, z=self.nce_z.value, num_negatives=self.nce_negatives,
                               temperature=self.temperature, seed=self.noise_seed, all_reduce_mean=all_reduce_mean)
        else:
            loss, z = full_softmax_loss(features, indices, bank, self.temperature), None
        all_indices, all_features = gather(indices), tf.stop_gradient(gather(features))
        rows = memory_bank_update(tf.gather(bank, all_indices), all_features, self.bank_momentum)
        return loss, (all_indices, rows, z)

    def apply_updates(self, updates, step):
        indices, rows, z = updates
        scatter_in_sync(self.memory_bank, indices, rows)
        if z is not None:
            assign_in_sync([self.nce_z], [z])

    def bank_features(self) -> np.ndarray:
        return np.asarray(keras.ops.convert_to_numpy(self.memory_bank))

    def embedding_model(self) -> keras.Model:
        """Images -> the 128-d embedding the bank holds (what the reference's kNN compares with the bank)."""
        if self._embedding is None:
            self._embedding = Untracked(keras.Model(self.backbone.inputs,
                                                    self.projector(self.backbone.outputs[0]), name="embedding"))
        return self._embedding.value


class InstDiscTask(SSLTask):
    train_index = True  # the memory-bank rows
    def views(self, preprocess):
        from tfzoo.data import ssl_augment

        overrides = self.augment_overrides()
        overrides["scale"] = (self.config.crop_scale_min, 1.0)
        view = ssl_augment.method_views("instdisc", **overrides)[0]
        return ssl_augment.views_fn([view], preprocess.image_size, preprocess, seed=self.config.seed)

    def build(self, backbone, context):
        return InstDiscModel(backbone, context, proj_dim=self.ssl.proj_dim, nce_negatives=self.ssl.nce_negatives,
                             temperature=self.ssl.temperature, bank_momentum=self.ssl.bank_momentum)

    def train_features_fn(self):
        return lambda model: model.bank_features()

    def knn_backbone_fn(self):
        return lambda model: model.embedding_model()
