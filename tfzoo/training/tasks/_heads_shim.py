"""TEMPORARY: projection heads until tfzoo/layers/ssl_heads.py (ssl-losses branch) lands; delete then."""

from __future__ import annotations

import keras


def mlp(in_dim: int, widths, *, name: str, bias: bool = True, bn: bool = False, last_bn: bool = False,
        last_affine: bool = True, last_center: bool = True) -> keras.Model:
    """Dense (+BN) + ReLU for every width but the last; the last Dense, optionally with a BN."""
    inputs = keras.Input((in_dim,), name=f"{name}_input")
    x = inputs
    for index, width in enumerate(widths):
        last = index == len(widths) - 1
        use_bn = last_bn if last else bn
        x = keras.layers.Dense(width, use_bias=bias and not use_bn, name=f"{name}_fc{index}")(x)
        if use_bn:
            affine = last_affine if last else True
            x = keras.layers.BatchNormalization(center=affine and (last_center if last else True), scale=affine,
                                                momentum=0.9, epsilon=1e-5, name=f"{name}_bn{index}")(x)
        if not last:
            x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
    return keras.Model(inputs, x, name=name)
