"""Models, images and run directories shared by the export tests."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

import tfzoo
from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.utils.atomic import write_json

CLASS_NAMES = ["cat", "dog", "fish", "bird"]
# Deliberately not the defaults, so an export that ignored the config would disagree with the reference.
PREPROCESS = PreprocessConfig(image_size=32, crop_pct=0.8, interpolation="bicubic",
                              mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))


def calibrate(model: keras.Model, seed: int) -> keras.Model:
    """Makes a freshly initialised model give distinct, confident predictions.

    At initialisation MobileNetV3's activations shrink block by block (head
    features around 1e-5), so every image gets nearly uniform probabilities and
    a test could not tell images apart. One training-mode pass with momentum 0
    sets every batch norm's statistics from synthetic images, and a wider
    random classifier spreads the logits.
    """
    from tfzoo.data.preprocessing import normalize

    batch = np.stack([make_image(32, 32, seed=100 + i) for i in range(32)]).astype("float32")
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(normalize(batch, PREPROCESS), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    head = model.get_layer("classifier")
    held_out = np.stack([make_image(32, 32, seed=200 + i) for i in range(16)]).astype("float32")
    features = keras.Model(model.inputs, head.input)(normalize(held_out, PREPROCESS), training=False).numpy()
    kernel = np.random.default_rng(seed).normal(size=head.kernel.shape)
    logits = features @ kernel
    kernel *= 2.0 / logits.std()  # logits spread by about +-2: clear winners, but no probability saturates at 0 or 1
    head.set_weights([kernel.astype("float32"), (-(logits.mean(axis=0)) * 2.0 / logits.std()).astype("float32")])
    return model


def mobilenet(classifier_activation="softmax", seed=0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = tfzoo.create_model("mobilenet_v3_small", num_classes=4, input_shape=(32, 32, 3),
                               classifier_activation=classifier_activation)
    return calibrate(model, seed)


def tiny_model(classifier_activation="softmax", seed=0) -> keras.Model:
    """A few-parameter classifier for tests of the directory layout, where the architecture does not matter."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="images")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(inputs)
    x = keras.layers.Dense(4, name="classifier")(x)
    outputs = keras.layers.Activation(classifier_activation or "linear", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def checkpoint_values(version_dir: str) -> int:
    """How many numbers the export's variables checkpoint stores (all saved tensors' sizes added up)."""
    entries = tf.train.list_variables(os.path.join(version_dir, "variables", "variables"))
    return sum(int(np.prod(shape)) for name, shape in entries if name != "_CHECKPOINTABLE_OBJECT_GRAPH")


def make_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth gradient plus noise: structured enough to survive JPEG, varied enough to move the logits."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 255, height)[:, None, None]
    cols = np.linspace(255, 0, width)[None, :, None]
    channel_mix = rng.uniform(0.2, 1.0, (1, 1, 3))
    image = rows * channel_mix + cols * (1 - channel_mix) + rng.normal(0, 20, (height, width, 3))
    return np.clip(image, 0, 255).astype("uint8")


def write_run_dir(path: str, model: keras.Model, class_names=CLASS_NAMES, preprocess=PREPROCESS) -> str:
    """A run directory as `tfzoo train` leaves it: model.keras + run.json."""
    os.makedirs(path, exist_ok=True)
    model.save(os.path.join(path, "model.keras"))
    write_json(os.path.join(path, "run.json"), {
        "model": "mobilenet_v3_small", "num_classes": int(model.output_shape[-1]), "class_names": class_names,
        "preprocess": preprocess.to_dict(), "dataset": "synthetic",
    })
    return path
