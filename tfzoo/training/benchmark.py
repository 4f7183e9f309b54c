"""Model cost and speed: parameters, FLOPs and inference images/s.

FLOPs come from TensorFlow's graph profiler on the traced inference graph
and the functions it calls (one multiply-add counts as two FLOPs). Throughput is timed on a compiled
`tf.function` after warm-up, as the median of several timed repeats.

Speed *comparisons* between models use `compare_inference`, which times the
models in turns inside one process: on a shared or thermally throttled
machine the speed drifts by more than the differences being measured, and
only measurements taken side by side, minutes apart at most, can be
compared (see ``scripts/bench_vs_keras.py`` and ``BENCHMARKS.md``).
"""

from __future__ import annotations

import statistics
from typing import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from tfzoo.training.timing import compare_forwards, time_batches


def count_params(model: keras.Model) -> dict:
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    return {"trainable_params": trainable, "total_params": total}


def count_flops(model: keras.Model, image_size: int) -> int:
    """FLOPs of one forward pass at batch 1 (2 per multiply-add).

    TensorFlow's graph profiler counts the traced inference graph; it does
    not look inside function calls, so the bodies of the functions the graph
    calls are counted too. That matters for grouped convolutions (ResNeXt,
    RegNet), which Keras' TensorFlow backend runs as an XLA-compiled function
    on CPU; the profiler then counts their actual work (the filter's
    per-group input depth, not the full input depth).
    """
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, image_size, image_size, model.input_shape[-1]], tf.float32))
    library = concrete.graph.as_graph_def().library
    return _graph_flops(concrete.graph, library, {f.signature.name: f for f in library.function})


_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")


def _graph_flops(graph: tf.Graph, library, functions: dict) -> int:
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    total = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                          options=options).total_float_ops
    for op in graph.get_operations():
        name = op.get_attr("f").name if op.type in _CALL_OPS else op.type
        if name in functions:
            total += _graph_flops(_function_body(functions[name], op, library), library, functions)
    return int(total)


def _function_body(fdef, call: tf.Operation, library) -> tf.Graph:
    """The graph of `fdef` as `call` runs it: its inputs' shapes, variables read as placeholders of their shape.

    Variables reach a function as resource handles, whose shape the body's
    shape inference cannot see; each ``ReadVariableOp`` of one becomes a
    placeholder shaped like the variable (from the caller's handle data), so
    the profiler knows every operand's shape.
    """
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def
    from tensorflow.python.ops import handle_data_util

    input_shapes, variable_shapes = [], {}
    for arg, tensor in zip(fdef.signature.input_arg, call.inputs):
        input_shapes.append(None if tensor.dtype == tf.resource else tensor.shape)
        if tensor.dtype == tf.resource:
            data = handle_data_util.get_resource_handle_data(tensor)
            if data.is_set and data.shape_and_type:
                variable_shapes[arg.name] = data.shape_and_type[0].shape
    graph_def, _ = function_def_to_graph_def(fdef, input_shapes)
    for node in graph_def.node:
        source = node.input[0].split(":")[0] if node.op == "ReadVariableOp" and node.input else None
        if source in variable_shapes:
            dtype = node.attr["dtype"].type
            node.op = "Placeholder"
            del node.input[:]
            node.attr.clear()
            node.attr["dtype"].type = dtype
            node.attr["shape"].shape.CopyFrom(variable_shapes[source])
    graph_def.library.CopyFrom(library)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return graph


def executed_op_counts(fn: Callable, *args) -> dict:
    """``{op type: count}`` of the ops TensorFlow executes for one call ``fn(*args)``, after Grappler.

    Read from the eager run metadata of that call. A `tf.function` that is
    traced during the call is counted as optimized for it; call `fn` once
    before to count a warm call.
    """
    from tensorflow.python.eager import context

    context.enable_run_metadata()
    try:
        fn(*args)
        metadata = context.export_run_metadata()
    finally:
        context.disable_run_metadata()
    counts = {}
    for function_graph in metadata.function_graphs:
        for graph in function_graph.partition_graphs:
            for node in graph.node:
                counts[node.op] = counts.get(node.op, 0) + 1
    return counts


def randomize_batch_norms(model: keras.Model, seed: int = 0) -> keras.Model:
    """Sets every BatchNorm's statistics and affine parameters (nested layers included) to non-trivial values.

    Freshly built BNs are identities at inference (mean 0, variance 1, gamma 1,
    beta 0); folding or re-parameterization checks and timings need them to do
    real work. Returns `model`.
    """
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.moving_mean.shape
            layer.gamma.assign(rng.uniform(0.5, 1.5, shape))
            layer.beta.assign(rng.normal(0.0, 0.3, shape))
            layer.moving_mean.assign(rng.normal(0.0, 0.3, shape))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, shape))
    return model


def inference_function(model: keras.Model, *, xla: bool = False) -> Callable:
    """``model(x, training=False)`` as a compiled `tf.function` (XLA-compiled with `xla`)."""
    return tf.function(lambda x: model(x, training=False), jit_compile=xla)


def random_images(model: keras.Model, batch_size: int, image_size: int, seed: int = 0) -> tf.Tensor:
    """A uniform [0, 1) batch shaped for `model` (channels last)."""
    return tf.random.stateless_uniform([batch_size, image_size, image_size, model.input_shape[-1]], seed=(seed, 0))


def time_inference(model: keras.Model, batch_size: int, image_size: int, *, xla: bool = False, warmup: int = 3,
                   iterations: int = 10, repeats: int = 3) -> float:
    """Median images/s of `model(x, training=False)` on random input."""
    forward = inference_function(model, xla=xla)
    images = random_images(model, batch_size, image_size)
    for _ in range(warmup):
        np.asarray(forward(images))
    return statistics.median(time_batches(forward, images, iterations) for _ in range(repeats))


def compare_inference(
    models: Mapping[str, keras.Model],
    batch_size: int,
    image_size: int,
    *,
    rounds: int = 5,
    iterations: int | None = None,
    seconds: float = 2.0,
    warmup: int = 2,
    xla: bool = False,
) -> dict:
    """Times several models in turns, in one process; returns every measurement.

    After warm-up, each round times every model once (``iterations`` batches),
    and the order reverses from one round to the next (A B, B A, A B ...), so
    a slow drift of the machine's speed weighs on each model alike and a
    model never profits from always running right after another one.

    Args:
        models: Name -> model, all taking `image_size` inputs.
        batch_size: Images per batch.
        image_size: Input side in pixels.
        rounds: Measurements per model.
        iterations: Batches per measurement; None picks, per model, the
            number that takes about `seconds` (from a timed warm-up call).
        seconds: Target length of one measurement when `iterations` is None.
        warmup: Untimed calls per model before the first round (the first
            call also traces the function).
        xla: Compile the forward passes with XLA.

    Returns:
        ``{name: {"images_per_sec": [one rate per round], "iterations": n}}``.
    """
    forwards = {name: inference_function(model, xla=xla) for name, model in models.items()}
    images = {name: random_images(model, batch_size, image_size) for name, model in models.items()}
    return compare_forwards(forwards, images, rounds=rounds, iterations=iterations, seconds=seconds, warmup=warmup)
