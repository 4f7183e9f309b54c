"""Prediction and export straight from timm's published weights, without a training run.

``tfzoo predict --model resnet50 --pretrained image.jpg`` and
``tfzoo export --model resnet50 --pretrained --output models/resnet50`` build
the model with `tfzoo.create_model(..., pretrained=...)`
(`tfzoo.convert.pretrained`) and preprocess as the checkpoint's config.json
says (mean, std, crop fraction, interpolation; the input size is the
model's), naming the classes with the checkpoint's labels or ImageNet-1k's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfzoo.convert.pretrained import class_names_for, preprocess_overrides
from tfzoo.data.preprocessing import PreprocessConfig, decode_image, eval_transform, normalize
from tfzoo.errors import UsageError
from tfzoo.export.inference import Predictor, read_images, top_k_entries
from tfzoo.export.saved_model import outputs_probabilities, probabilities_from_outputs
from tfzoo.models.registry import create_model, get_spec

__all__ = ["pretrained_model", "pretrained_preprocess", "predict_pretrained"]


def pretrained_preprocess(model) -> PreprocessConfig:
    """Evaluation preprocessing of a pretrained model: registry defaults, overridden by its checkpoint's config."""
    spec = get_spec(model.zoo_info["name"])
    base = PreprocessConfig(image_size=int(model.input.shape[1]), crop_pct=spec.crop_pct,
                            interpolation=spec.interpolation, mean=tuple(spec.mean), std=tuple(spec.std))
    return dataclasses.replace(base, **preprocess_overrides(model.zoo_info))


def pretrained_model(name: str, pretrained, image_size: int | None = None):
    """The pretrained classifier (softmax outputs) at `image_size` (default: the checkpoint's input size).

    With ``pretrained=None`` the model has fresh weights and 1000 classes
    (``tfzoo export --model NAME`` for serving benchmarks).
    """
    return create_model(name, pretrained=pretrained,
                        input_shape=(image_size, image_size, 3) if image_size else None)


def predict_pretrained(name: str, pretrained, image_paths: list[str], top_k: int = 5) -> list[dict]:
    """Like `tfzoo.export.predict_files`, from a pretrained model instead of a run or an export."""
    if not isinstance(top_k, int) or top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}")
    encoded = read_images(list(image_paths))
    model = pretrained_model(name, pretrained)
    preprocess = pretrained_preprocess(model)
    apply_softmax = not outputs_probabilities(model)

    def probabilities_fn(batch):
        pixels = tf.stack([eval_transform(decode_image(tf.constant(data)), preprocess) for data in batch])
        outputs = model(normalize(pixels, preprocess), training=False)
        return probabilities_from_outputs(outputs, apply_softmax).numpy()

    from tfzoo.models.zoo_model import describe

    predictor = Predictor(model.zoo_info["pretrained"], class_names_for(model), preprocess, probabilities_fn,
                          description=f"{describe(model)}, {model.zoo_info['pretrained']}")
    probabilities = predictor.probabilities(encoded) if encoded else np.zeros([0, 0], np.float32)
    return [{"path": path, "top_k": top_k_entries(row, predictor.class_names, top_k), "model": predictor.description}
            for path, row in zip(image_paths, probabilities)]
