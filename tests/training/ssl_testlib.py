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
                  name=TINY_BACKBONE, batch_norm=True, **_):
    """Conv-BN-ReLU twice (the second strided), global average pooling; a classifier with the top.

    ``batch_norm=False`` leaves the BN layers out (replica-count independent, for the mirrored tests).
    """
    import keras

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index, (width, stride) in enumerate(((8, 1), (16, 2))):
        x = keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"conv{index}")(x)
        if batch_norm:
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


# --------------------------------------------------------------------------- two-replica child
def child_losses_mirrored_vs_single(out_file: str) -> None:
    """SimCLR, SwAV and MoCo v3 losses of one global batch: one device vs two logical CPUs (BN-free nets)."""
    import numpy as np

    from tests.training.distributed_testlib import _two_logical_cpus

    _two_logical_cpus()
    import keras
    import tensorflow as tf

    from tfzoo.training.strategy import create_strategy
    from tfzoo.layers.ssl_heads import moco_projection_head, swav_head
    from tfzoo.training.tasks.base import RunContext
    from tfzoo.training.tasks.moco_v3 import MoCoV3Model
    from tfzoo.training.tasks.simclr import SimCLRModel
    from tfzoo.training.tasks.swav import SwAVModel

    rng = np.random.default_rng(0)
    batch = 8
    views = {16: [rng.normal(size=(batch, 16, 16, 3)).astype("float32") for _ in range(2)],
             8: [rng.normal(size=(batch, 8, 8, 3)).astype("float32") for _ in range(2)]}
    context = RunContext(steps_per_epoch=4, epochs=2, batch_size=batch, replicas=1, num_train=batch, num_classes=2)

    def bn_free(width, name):  # the heads' batch norm is per replica: leave it out here
        return moco_projection_head(width, out_dim=4, mlp=True, hidden_dim=8, name=name)

    def build(method):
        keras.utils.set_random_seed(3)
        backbone = tiny_backbone(input_shape=(16, 16, 3), include_top=False, pooling="avg", batch_norm=False)
        if method == "simclr":
            model = SimCLRModel(backbone, context, temperature=0.5, proj_dim=4, proj_hidden_dim=8)
            model.projector = bn_free(16, "projector")
            crops = views[16]
        elif method == "swav":
            model = SwAVModel(backbone, context, proj_dim=4, proj_hidden_dim=8, num_prototypes=5,
                              temperature=0.1, sinkhorn_epsilon=0.5, freeze_prototypes_epochs=0)
            model.head = swav_head(16, hidden_dim=0, out_dim=4, num_prototypes=5, name="head")
            crops = views[16] + views[8]
        else:
            model = MoCoV3Model(backbone, context, proj_dim=4, proj_hidden_dim=8, pred_hidden_dim=8, temperature=0.2)
            model.projector = bn_free(16, "projector")
            model.predictor = bn_free(4, "predictor")
            model.momentum_projector = bn_free(16, "momentum_projector")
            model.momentum_projector.set_weights([w * 0.5 for w in model.projector.get_weights()])
        return model, crops if method != "moco_v3" else views[16]

    strategies = {name: create_strategy(name) for name in ("one_device", "mirrored")}
    results = {}
    for method in ("simclr", "swav", "moco_v3"):
        for name, strategy in strategies.items():
            with strategy.scope():
                model, crops = build(method)
            replicas = strategy.num_replicas_in_sync
            share = batch // replicas

            def shard(ctx, crops=crops, share=share):
                start = ctx.replica_id_in_sync_group * share
                return {"views": tuple(tf.constant(c[start:start + share]) for c in crops),
                        "index": tf.range(start, start + share)}

            inputs = strategy.experimental_distribute_values_from_function(shard)

            @tf.function
            def loss_of(inputs, model=model, strategy=strategy):
                per_replica = strategy.run(lambda x: model.ssl_loss(x, tf.constant(0, tf.int64))[0], args=(inputs,))
                return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

            results[f"{method}_{name}"] = np.array(loss_of(inputs))
            results[f"{method}_{name}_replicas"] = np.array(replicas)
    np.savez(out_file, **results)


if __name__ == "__main__":
    import sys

    if sys.argv[1] == "losses_mirrored":
        child_losses_mirrored_vs_single(sys.argv[2])
