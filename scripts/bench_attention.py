"""Times the explicit ``softmax(q k^T / sqrt(d)) v`` against ``keras.ops.dot_product_attention``.

The numbers behind the choice in ``tfzoo/layers/transformer.py``
(`FusedQKVAttention`): both start from the same fused ``qkv`` tensor laid out
as timm's ``(3, heads, head_dim)``, run under ``tf.function`` (graph mode, as
``model.predict`` / ``fit``) and under XLA, and must give the same output::

    python scripts/bench_attention.py
"""

import time

import numpy as np
import tensorflow as tf
from keras import ops

SHAPES = [(16, 197, 6, 64), (16, 197, 12, 64), (64, 17, 3, 64)]  # (batch, tokens, heads, head_dim)
SECONDS = 2.0


def explicit(qkv, heads):
    batch, length = ops.shape(qkv)[0], ops.shape(qkv)[1]
    head_dim = qkv.shape[-1] // (3 * heads)
    qkv = ops.transpose(ops.reshape(qkv, (batch, length, 3, heads, head_dim)), (2, 0, 3, 1, 4))
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = ops.softmax(ops.matmul(q * head_dim ** -0.5, ops.transpose(k, (0, 1, 3, 2))), axis=-1)
    return ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (batch, length, heads * head_dim))


def fused(qkv, heads):
    batch, length = ops.shape(qkv)[0], ops.shape(qkv)[1]
    head_dim = qkv.shape[-1] // (3 * heads)
    qkv = ops.reshape(qkv, (batch, length, 3, heads, head_dim))
    out = ops.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])
    return ops.reshape(out, (batch, length, heads * head_dim))


def time_ms(function, x) -> float:
    function(x)
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < SECONDS:
        function(x)
        calls += 1
    return (time.perf_counter() - start) / calls * 1e3


def main():
    for batch, length, heads, head_dim in SHAPES:
        x = tf.constant(np.random.default_rng(0).standard_normal((batch, length, 3 * heads * head_dim)), tf.float32)
        results = []
        for label, attention in (("explicit", explicit), ("dot_product_attention", fused)):
            for jit in (False, True):
                function = tf.function(lambda t, f=attention: f(t, heads), jit_compile=jit)
                results.append(f"{label}{' (XLA)' if jit else ''} {time_ms(function, x):.2f} ms")
        diff = np.abs(explicit(x, heads).numpy() - fused(x, heads).numpy()).max()
        print(f"[{batch}, {length}, {heads} x {head_dim}]: " + ", ".join(results) + f"; max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
