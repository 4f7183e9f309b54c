"""Model cost and speed: parameters, FLOPs and inference images/s.

FLOPs come from TensorFlow's graph profiler on the frozen inference graph
(one multiply-add counts as two FLOPs). Throughput is timed on a compiled
`tf.function` after warm-up, as the median of several timed repeats.
"""

from __future__ import annotations

import statistics
import time

import keras
import numpy as np
import tensorflow as tf


def count_params(model: keras.Model) -> dict:
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    return {"trainable_params": trainable, "total_params": total}


def count_flops(model: keras.Model, image_size: int) -> int:
    """FLOPs of one forward pass at batch 1 (2 per multiply-add)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, image_size, image_size, model.input_shape[-1]], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                                options=options)
    return int(profile.total_float_ops)


def time_inference(model: keras.Model, batch_size: int, image_size: int, *, xla: bool = False, warmup: int = 3,
                   iterations: int = 10, repeats: int = 3) -> float:
    """Median images/s of `model(x, training=False)` on random input."""
    fn = tf.function(lambda x: model(x, training=False), jit_compile=xla)
    images = tf.random.uniform([batch_size, image_size, image_size, model.input_shape[-1]])
    for _ in range(warmup):
        fn(images).numpy()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            out = fn(images)
        out.numpy()
        rates.append(batch_size * iterations / (time.perf_counter() - start))
    return statistics.median(rates)
