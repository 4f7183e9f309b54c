"""Adaptive gradient clipping (AGC), unit-wise, as in NFNets.

"High-Performance Large-Scale Image Recognition Without Normalization" (Brock
et al. 2021, arXiv 2102.06171), Section 4; DeepMind reference
deepmind-research/nfnets ``optim.py`` / ``agc_optax.py``. Each unit's gradient
is rescaled when it is large relative to the unit's weights:

    if ||G_i|| > lambda * max(||W_i||, eps):
        G_i <- G_i * lambda * max(||W_i||, eps) / max(||G_i||, 1e-6)

A unit is one output channel or neuron: norms run over the fan-in axes of a
conv kernel (``(kh, kw, in)`` of a Keras HWIO kernel), over the input axis of
a dense ``(in, out)`` kernel, and over the whole tensor for biases, gains and
scalars. ``lambda`` (`clipping`) defaults to 0.01 and ``eps`` to 1e-3. The
paper does not clip the final classifier; `DEFAULT_EXCLUDE` names the
classifier layers of every tfzoo family (``fc``, ``head_fc``, ``classifier``
... see `tfzoo.layers.head`).

Three forms:
- `adaptive_grad_clip(grads, variables, ...)`: a pure function (keras.ops).
- `AGC(optimizer, ...)`: wraps any Keras optimizer, for ``model.compile`` /
  ``fit``; its state is the wrapped optimizer's, so checkpoints hold the same
  variables as without the wrapper.
- ``tfzoo train --agc 0.01``.

Under ``tf.distribute`` with several replicas Keras clips (``clipnorm``)
each replica's gradient before the cross-replica sum; `AGC` instead sums the
gradients first, clips the sum and hands the wrapped optimizer each replica's
share, so the clipped update does not depend on the number of replicas.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from tfzoo.optimizers.wrapper import WrappedOptimizer

# Layer names of the final classifier across tfzoo families (the `name` given to tfzoo.layers.head.classifier):
# "classifier" (the default: MobileNets, EfficientNet, DenseNet), "fc" (ResNet, Inception, Xception) and
# "head_fc" (NFNet, RegNet, VGG).
DEFAULT_EXCLUDE = ("classifier", "fc", "head_fc")


def unitwise_norm(x):
    """L2 norm per unit: over all but the last axis for rank >= 2, else over the whole tensor (kept dims)."""
    rank = len(x.shape)
    if rank <= 1:
        return ops.sqrt(ops.sum(ops.square(x), keepdims=True))
    return ops.sqrt(ops.sum(ops.square(x), axis=tuple(range(rank - 1)), keepdims=True))


def _layer_names(variable) -> list:
    path = getattr(variable, "path", None) or getattr(variable, "name", "") or ""
    return path.split("/")[:-1]


def is_excluded(variable, exclude: Sequence[str]) -> bool:
    """Whether `variable` belongs to a layer named in `exclude`.

    A layer matches an entry when its name equals it or starts with it
    followed by ``_`` (``"head"`` matches ``head_fc``), so ``"fc"`` does not
    catch squeeze-excite convs such as ``layer1_0_se_fc1``.
    """
    for layer in _layer_names(variable):
        if any(layer == entry or layer.startswith(entry + "_") for entry in exclude):
            return True
    return False


def clip_unitwise(grad, param, clipping: float = 0.01, eps: float = 1e-3):
    """AGC for one gradient / parameter pair."""
    grad_dtype = grad.dtype
    grad = ops.cast(grad, "float32")
    param = ops.cast(param, "float32")
    max_norm = ops.maximum(unitwise_norm(param), eps) * clipping
    grad_norm = unitwise_norm(grad)
    clipped = grad * (max_norm / ops.maximum(grad_norm, 1e-6))
    return ops.cast(ops.where(grad_norm > max_norm, clipped, grad), grad_dtype)


def adaptive_grad_clip(grads, variables, clipping: float = 0.01, eps: float = 1e-3,
                       exclude: Sequence[str] = DEFAULT_EXCLUDE) -> list:
    """Unit-wise adaptive gradient clipping (Brock et al. 2021).

    Args:
        grads: Gradients, one per variable (None entries pass through).
        variables: The variables (or tensors) the gradients belong to.
        clipping: lambda, the largest allowed ratio of gradient to weight norm.
        eps: Floor of the weight norm, so zero-initialised weights can move.
        exclude: Layer names whose variables are not clipped (default: the
            classifier layers of tfzoo's families); ``()`` clips everything.

    Returns:
        The clipped gradients, a list in the order of `grads`.
    """
    grads = list(grads)
    variables = list(variables)
    if len(grads) != len(variables):
        raise ValueError(f"got {len(grads)} gradients for {len(variables)} variables")
    return [g if g is None or is_excluded(v, exclude) else clip_unitwise(g, v, clipping, eps)
            for g, v in zip(grads, variables)]


@keras.saving.register_keras_serializable(package="tfzoo")
class AGC(WrappedOptimizer):
    """Wraps a Keras optimizer and applies unit-wise adaptive gradient clipping before each update.

    Args:
        inner_optimizer: The optimizer to wrap, e.g. ``keras.optimizers.SGD(0.1, momentum=0.9)``.
        clipping: lambda (0.01 in the paper at batch 4096).
        eps: Floor of the weight norm.
        exclude: Layer names not clipped (default `DEFAULT_EXCLUDE`, the classifiers).
        name: Optimizer name.

    Its variables (slots and step counter) are the wrapped optimizer's, so a
    checkpoint written with the wrapper restores into it and vice versa. For
    mixed float16, wrap this in the `LossScaleOptimizer` (so AGC sees unscaled
    gradients), not the other way round.
    """

    def __init__(self, inner_optimizer, clipping: float = 0.01, eps: float = 1e-3,
                 exclude: Sequence[str] = DEFAULT_EXCLUDE, name: str | None = None, **kwargs):
        if kwargs:
            raise ValueError(f"AGC takes no optimizer arguments ({', '.join(kwargs)}); set them on the wrapped one")
        if clipping <= 0:
            raise ValueError(f"AGC clipping must be > 0, got {clipping}")
        super().__init__(inner_optimizer, name=name or "agc")
        self.clipping = float(clipping)
        self.eps = float(eps)
        self.exclude = tuple(exclude)

    def _clip(self, grads, trainable_variables):
        return adaptive_grad_clip(grads, trainable_variables, self.clipping, self.eps, self.exclude)

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        variables = list(trainable_variables) if trainable_variables is not None else self._trainable_variables
        if not self.built:
            self.build(variables)
        replicas = _tf_replica_context()
        if replicas is None:
            grads = self._clip(grads, variables)
        else:
            # Clip the cross-replica sum, then give each replica 1/n of it: the wrapped
            # optimizer sums the replicas' gradients again.
            context, count = replicas
            present = [i for i, g in enumerate(grads) if g is not None]
            summed = context.all_reduce("sum", [grads[i] for i in present])
            clipped = self._clip(summed, [variables[i] for i in present])
            for i, g in zip(present, clipped):
                grads[i] = g / count
        return self.inner_optimizer.apply(grads, trainable_variables)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        grads = self._clip(grads, self._trainable_variables)
        return self.inner_optimizer.stateless_apply(optimizer_variables, grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "clipping": self.clipping, "eps": self.eps, "exclude": list(self.exclude)}


def _tf_replica_context():
    """``(replica context, replica count)`` inside a multi-replica tf.distribute step, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context, context.num_replicas_in_sync
