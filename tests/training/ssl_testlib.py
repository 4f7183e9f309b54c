"""Shared helpers of the self-supervised tests: a tiny backbone registered for one test, tiny method settings."""

from __future__ import annotations

TINY_BACKBONE = "test_tiny_backbone"

# Method settings small enough for a few steps on two loaded cores (16 px, batch 8).
TINY_SSL = {
    "simclr": dict(proj_hidden_dim=16, proj_dim=8),
    "moco_v1": dict(proj_dim=8, queue_size=32, shuffle_bn_groups=2),
    "moco_v2": dict(proj_dim=8, proj_hidden_dim=16, queue_size=32, shuffle_bn_groups=2),
    "moco_v3": dict(proj_dim=8, proj_hidden_dim=16, pred_hidden_dim=16),
    "swav": dict(proj_dim=8, proj_hidden_dim=16, num_prototypes=10, num_small_crops=2, queue_size=16,
                 queue_start_epoch=1),
    "instdisc": dict(proj_dim=8, nce_negatives=16),
}


def tiny_backbone(num_classes=10, input_shape=(16, 16, 3), include_top=True, pooling=None, weights=None,
                  name=TINY_BACKBONE, **_):
    """Conv-BN-ReLU twice (the second strided), global average pooling; a classifier with the top."""
    import keras

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index, (width, stride) in enumerate(((8, 1), (16, 2))):
        x = keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
    if include_top or pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        x = keras.layers.Dense(num_classes, activation="softmax", name="head_fc")(x)
    return keras.Model(inputs, x, name=name)


def register(monkeypatch=None):
    """Registers `TINY_BACKBONE`; with `monkeypatch`, only until the test ends (the suite's model list stays)."""
    from tfzoo.models import registry

    spec = registry.ModelSpec(name=TINY_BACKBONE, family="test", builder=tiny_backbone, kwargs={}, paper="-",
                              reference="-", input_size=16, min_input_size=8)
    if monkeypatch is not None:
        monkeypatch.setitem(registry._MODELS, TINY_BACKBONE, spec)
    elif TINY_BACKBONE not in registry._MODELS:
        registry.register_model(spec)


def tiny_pretrain_config(method: str, run_dir, **overrides):
    from tfzoo.training.ssl_config import pretrain_config

    fields = dict(model=TINY_BACKBONE, run_dir=str(run_dir), epochs=1, batch_size=8, steps_per_epoch=2,
                  image_size=16, verbose=0, warmup_epochs=0.0, **TINY_SSL[method])
    fields.update(overrides)
    return pretrain_config(method, **fields)
