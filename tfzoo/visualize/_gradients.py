"""The one backend-specific piece of the heat maps: the gradient of class scores at a feature layer.

`features_and_gradients(model, feature, logits, images, class_index)` runs
the model once and returns the feature layer's output ``A``, the chosen
classes and ``d y_c / d A`` (``y_c`` the logit of each image's class).
Everything else in `tfzoo.visualize` is `keras.ops`.

- TensorFlow: one model ``images -> (A, logits)`` under a `tf.GradientTape`;
  works for any layer, including one bypassed by a skip connection.
- JAX: the graph is cut at the layer (``A -> logits`` as its own functional
  model) and differentiated with `jax.grad`; this needs a layer every path
  to the logits goes through (a block output, not a conv inside a residual
  block). Written for the API's sake; the test suite runs on TensorFlow only.
"""

from __future__ import annotations

import keras
import numpy as np

from tfzoo.errors import UsageError


def _chosen(logits: np.ndarray, class_index) -> np.ndarray:
    if class_index is None:
        return np.argmax(logits, axis=-1).astype(np.int32)
    chosen = np.broadcast_to(np.asarray(class_index, np.int64), (logits.shape[0],)).astype(np.int32)
    if np.any(chosen < 0) or np.any(chosen >= logits.shape[-1]):
        raise UsageError(f"class index {class_index} is out of range for {logits.shape[-1]} classes")
    return chosen


def features_and_gradients(model: keras.Model, feature, logits, images, class_index=None):
    """Forward pass plus the gradient of each image's class logit with respect to a feature tensor.

    Args:
        model: The functional classifier.
        feature: The KerasTensor of the feature layer's output.
        logits: The KerasTensor of the class scores (`tfzoo.visualize.heads.logits_tensor`).
        images: float32 ``[B, H, W, 3]``, preprocessed as the model expects.
        class_index: None (each image's top class), an int, or one int per image.

    Returns:
        ``(features, gradients, logits, classes)`` as NumPy arrays (float32;
        classes int32 ``[B]``).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(model, feature, logits, images, class_index)
    if backend == "jax":
        return _jax(model, feature, logits, images, class_index)
    raise UsageError(f"Grad-CAM supports the TensorFlow and JAX backends, not {backend}")


def _tensorflow(model, feature, logits, images, class_index):
    import tensorflow as tf

    joint = keras.Model(model.input, [feature, logits])
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, scores = joint(images, training=False)
        scores = tf.cast(scores, tf.float32)
        classes = _chosen(scores.numpy(), class_index)
        picked = tf.reduce_sum(scores * tf.one_hot(classes, scores.shape[-1]), axis=-1)
    gradients = tape.gradient(picked, features)
    if gradients is None:
        raise UsageError(f"the class scores of {model.name} do not depend on layer {feature._keras_history[0].name!r}")
    return (np.asarray(features, np.float32), np.asarray(gradients, np.float32), scores.numpy(), classes)


def _jax(model, feature, logits, images, class_index):  # pragma: no cover - no JAX in the test environment
    import jax
    import jax.numpy as jnp

    try:
        head = keras.Model(feature, logits)
    except ValueError as error:
        raise UsageError(f"on JAX, Grad-CAM needs a layer that every path to the logits passes through; "
                         f"choose a block output ({error})") from None
    features = keras.Model(model.input, feature)(images, training=False)
    scores = np.asarray(head(features, training=False), np.float32)
    classes = _chosen(scores, class_index)
    one_hot = jax.nn.one_hot(classes, scores.shape[-1])

    def picked(values):
        return jnp.sum(jnp.asarray(head(values, training=False), jnp.float32) * one_hot)

    gradients = jax.grad(picked)(features)
    return np.asarray(features, np.float32), np.asarray(gradients, np.float32), scores, classes
