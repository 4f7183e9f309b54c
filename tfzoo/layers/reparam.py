"""Structural re-parameterization: the layer side of `tfzoo.reparameterize`.

A layer with a cheaper inference form (as timm's ``reparameterize()``
modules) subclasses `Reparameterizable` and implements two methods:

- ``deploy_config()``: its config in the inference form (the same class, e.g.
  with ``deploy=True``), from which `tfzoo.reparameterize` rebuilds it;
- ``reparameterize()``: the weights of that inference form, computed from
  its current (training-form) weights, in the order the rebuilt layer's
  ``set_weights`` takes.

`fold_batch_norm` is the shared arithmetic: an inference-mode BatchNorm after
a convolution is a per-output-channel scale and shift, so it folds into the
convolution's kernel and bias exactly.
"""

from __future__ import annotations

import numpy as np
from keras import ops


class Reparameterizable:
    """Mixin for layers that convert to an equivalent, cheaper inference form."""

    def deploy_config(self) -> dict:
        """This layer's config in its inference form."""
        raise NotImplementedError

    def reparameterize(self) -> list:
        """The inference form's weights (NumPy arrays), equivalent to the current weights in inference mode."""
        raise NotImplementedError


def _numpy(value):
    return None if value is None else np.asarray(ops.convert_to_numpy(value), np.float64)


def batch_norm_scale_shift(bn) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` with ``bn(x) == x * scale + shift`` in inference mode, in float64."""
    mean, variance = _numpy(bn.moving_mean), _numpy(bn.moving_variance)
    gamma = _numpy(bn.gamma) if bn.scale else np.ones_like(mean)
    beta = _numpy(bn.beta) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return scale, beta - mean * scale


def fold_batch_norm(kernel, bias, bn, depthwise: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Folds an inference-mode BatchNorm into the convolution before it.

    Args:
        kernel: Conv2D kernel ``(kh, kw, in / groups, out)``, or with
            `depthwise` a DepthwiseConv2D kernel ``(kh, kw, in, multiplier)``.
        bias: The convolution's bias, or None.
        bn: A built `keras.layers.BatchNormalization` over the last axis.
        depthwise: Whether `kernel` is a depthwise kernel (output channel
            ``c * multiplier + m``).

    Returns:
        ``(kernel, bias)`` in float64 with ``bn(conv(x)) == conv'(x)``.
    """
    kernel = _numpy(kernel)
    scale, shift = batch_norm_scale_shift(bn)
    bias = np.zeros_like(scale) if bias is None else _numpy(bias)
    if depthwise:
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    return kernel, bias * scale + shift
