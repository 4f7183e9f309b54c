"""Linear evaluation: a frozen backbone (weights and BN statistics untouched), MoCo's schedule, metrics.json."""

import json
import os

import keras
import numpy as np
import pytest

from tests.training.pretrain_testlib import make_pretrain_run
from tfzoo.errors import UsageError
from tfzoo.training.linear_eval import _schedule, linear_classifier, linear_eval
from tfzoo.training.linear_eval_config import LinearEvalConfig


def _toy_backbone():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x))


def test_only_the_linear_head_learns():
    keras.utils.set_random_seed(0)
    backbone = _toy_backbone()
    before = [w.numpy().copy() for w in backbone.weights]  # kernels and BN moving statistics
    model = linear_classifier(backbone, 3)
    assert [w.path for w in model.trainable_weights] == ["linear_head/kernel", "linear_head/bias"]
    kernel = model.get_layer("linear_head").kernel.numpy()
    assert abs(kernel.std() - 0.01) < 0.005 and np.all(model.get_layer("linear_head").bias.numpy() == 0)
    model.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images = np.random.default_rng(0).normal(3.0, 2.0, (16, 8, 8, 3)).astype(np.float32)
    model.fit(images, np.arange(16) % 3, epochs=2, batch_size=8, verbose=0)
    for old, weight in zip(before, backbone.weights):
        np.testing.assert_array_equal(old, weight.numpy(), err_msg=weight.path)  # BN ran in inference mode
    assert not np.array_equal(kernel, model.get_layer("linear_head").kernel.numpy())


def test_schedule_steps_at_60_and_80_percent():
    config = LinearEvalConfig(run_dir="unused", epochs=100, batch_size=128, learning_rate=30.0)
    schedule, boundaries = _schedule(config, steps=10)
    assert boundaries == [600, 800]
    rates = [float(schedule(step)) for step in (0, 600, 601, 800, 801, 1000)]
    np.testing.assert_allclose(rates, [15.0, 15.0, 1.5, 1.5, 0.15, 0.15], rtol=1e-6)  # 30 x 128 / 256 = 15


def test_config_refuses_mixed_sources(tmp_path):
    with pytest.raises(UsageError, match="--random_init needs --model"):
        LinearEvalConfig(random_init=True).validate()
    with pytest.raises(UsageError, match="pass --run_dir"):
        LinearEvalConfig().validate()
    with pytest.raises(UsageError, match="--lr_decay_epochs"):
        LinearEvalConfig(model="resnet18", random_init=True, lr_decay_epochs=(60, 80)).validate()


@pytest.mark.slow
def test_linear_eval_of_a_pretrain_run_writes_metrics(tmp_path):
    run_dir = str(tmp_path / "pretrain")
    make_pretrain_run(run_dir)
    metrics = linear_eval(LinearEvalConfig(run_dir=run_dir, epochs=2, batch_size=128, verbose=0))
    path = os.path.join(run_dir, "linear_eval", "metrics.json")
    with open(path) as handle:
        assert json.load(handle) == metrics
    assert metrics["method"] == "simclr" and metrics["model"] == "mobilenet_v3_small_050"
    assert metrics["epochs"] == 2 and metrics["num_train"] == 1437 and metrics["num_val"] == 360
    for key in ("top1", "top5", "knn_top1", "knn_top5"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["top1"] <= metrics["top5"] and metrics["knn_top1"] <= metrics["knn_top5"]
    assert metrics["knn_top1"] > 0.3  # even perturbed random features separate digits far above chance (0.1)
    protocol = metrics["protocol"]
    assert protocol["learning_rate"] == pytest.approx(15.0) and protocol["lr_decay_steps"] == [11, 22]
    assert protocol["train_transform"] == {"crop_scale": [0.5, 1.0], "hflip": False}  # the digits recipe
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.startswith(".tmp")]
