"""The token-labeling loss (LV-ViT, Jiang et al. 2021, arXiv 2104.10858).

Reference: ``TokenLabelCrossEntropy`` in the official repository
(github.com/zihangJiang/TokenLabeling, ``tlt/loss/cross_entropy.py``). For a
batch of ``B`` images with ``N`` patch tokens and ``C`` classes::

    loss = cls_weight * mean_b CE(t_cls_mixed[b], cls[b])
         + dense_weight * mean_{b, n} CE(t_dense[b, n], aux[b, n])

with ``CE(t, z) = -sum_c t_c log softmax(z)_c`` and the class target mixed
with the batch-reversed one by MixToken's ``lam`` (recomputed from the clipped
box)::

    t_cls_mixed = lam * t_cls + (1 - lam) * t_cls[::-1]

The dense targets are not mixed: the model swaps the mixed box of its token
outputs back (`tfzoo.layers.UnmixTokens`). Label smoothing and the softmax of
the annotator's scores happen where the targets are made
(`tfzoo.data.token_labels`), as in the official pipeline, so this loss takes
the targets as they are.
"""

from __future__ import annotations

import keras
from keras import ops


def soft_cross_entropy(targets, logits):
    """``-sum_c t_c log softmax(z)_c`` over the last axis, in float32."""
    log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return -ops.sum(ops.cast(targets, "float32") * log_p, axis=-1)


@keras.saving.register_keras_serializable(package="tfzoo")
class TokenLabelingLoss(keras.losses.Loss):
    """Class-token soft CE against the MixToken-mixed target plus the mean token soft CE against dense labels.

    ``y_true``: ``{"cls": [B, C], "dense": [B, N, C]}`` soft targets.
    ``y_pred``: ``{"cls": [B, C] logits, "aux": [B, N, C] logits (box swapped
    back), "lam": [B, 1]}``; a ``y_pred`` without ``"lam"`` means no mixing.
    Per-example values are ``cls_weight * CE_cls + dense_weight * mean_n CE_n``;
    the default reduction averages them over the batch, which equals the
    official loss (mean over ``B`` plus mean over ``B * N``).

    Args:
        cls_weight: Weight of the class-token term (official default 1.0).
        dense_weight: Weight of the dense term (official default 1.0).
        reduction: Keras loss reduction.
        name: Loss name.
    """

    def __init__(self, cls_weight: float = 1.0, dense_weight: float = 1.0, reduction="sum_over_batch_size",
                 name: str = "token_labeling_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if cls_weight < 0 or dense_weight < 0 or cls_weight + dense_weight <= 0:
            raise ValueError(f"weights must be >= 0 and not both 0, got cls_weight={cls_weight}, "
                             f"dense_weight={dense_weight}")
        self.cls_weight = float(cls_weight)
        self.dense_weight = float(dense_weight)

    def call(self, y_true, y_pred):
        target_cls = ops.cast(y_true["cls"], "float32")
        if "lam" in y_pred:
            lam = ops.cast(ops.reshape(y_pred["lam"], (-1,))[0], "float32")  # one lam per batch
            target_cls = lam * target_cls + (1.0 - lam) * ops.flip(target_cls, axis=0)
        loss_cls = soft_cross_entropy(target_cls, y_pred["cls"])
        loss_dense = ops.mean(soft_cross_entropy(y_true["dense"], y_pred["aux"]), axis=-1)
        return self.cls_weight * loss_cls + self.dense_weight * loss_dense

    def get_config(self):
        config = super().get_config()
        config.update({"cls_weight": self.cls_weight, "dense_weight": self.dense_weight})
        return config
