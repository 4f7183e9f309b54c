"""Token-labeling training: the train pipeline's targets and the trainer's wrapper, by value."""

import json
import os

import keras
import numpy as np
import pytest

import tfzoo
from tfzoo.data import load_dataset, token_labels
from tfzoo.data.digits import digits_arrays
from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.losses import SoftTargetCrossEntropy
from tfzoo.losses.token_labeling import TokenLabelingLoss
from tfzoo.training.relabel import write_npz_deterministic
from tfzoo.training.tasks.token_labeling import TokenLabelingModel

CLASSES = 10


def _class_pattern(label):
    """A 2x2 top-2 map that depends on the class only: position p scores class (label + p) % 10 with 2 + p."""
    values = np.zeros((2, 2, 2), np.float16)
    indices = np.zeros((2, 2, 2), np.int16)
    for p in range(4):
        i, j = divmod(p, 2)
        values[i, j] = (2.0 + p, 0.5)
        indices[i, j] = ((label + p) % CLASSES, (label + p + 5) % CLASSES)
    return values, indices


@pytest.fixture(scope="module")
def label_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("labels"))
    _, labels = digits_arrays(32)
    keys = np.array([str(i) for i in range(len(labels))])
    patterns = [_class_pattern(int(label)) for label in labels]
    write_npz_deterministic(os.path.join(directory, "shard-00000.npz"), {
        "keys": keys, "values": np.stack([v for v, _ in patterns]), "indices": np.stack([i for _, i in patterns])})
    with open(os.path.join(directory, token_labels.MANIFEST), "w") as f:
        json.dump({"format": token_labels.FORMAT, "num_shards": 1, "num_classes": CLASSES}, f)
    return directory


def test_train_pipeline_attaches_each_images_own_targets(label_dir):
    # A whole-image "crop" without flips: the box is (0, 0, 1, 1), so every crop's dense target is the
    # RoIAlign of its own (class-determined) map to the 2x2 grid, i.e. the map itself.
    preprocess = PreprocessConfig(image_size=32, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=False)
    config = token_labels.TokenLabelConfig(label_dir=label_dir, grid=(2, 2), smoothing=0.1)
    bundle = load_dataset("digits", preprocess=preprocess, batch_size=8, token_labels=config)
    images, targets = next(iter(bundle.train))
    assert images.shape == (8, 32, 32, 3)
    for b in range(8):
        label = int(targets["label"][b])
        values, indices = _class_pattern(label)
        want_cls, want_dense = token_labels.token_targets(values.astype(np.float32), indices.astype(np.int32),
                                                          [0.0, 0.0, 1.0, 1.0], False, num_classes=CLASSES,
                                                          grid=(2, 2), smoothing=0.1)
        np.testing.assert_allclose(targets["dense"][b], want_dense, atol=1e-6)
        np.testing.assert_allclose(targets["cls"][b], want_cls, atol=1e-6)
        # The strongest class at token p is (label + p) % 10.
        np.testing.assert_array_equal(np.argmax(targets["dense"][b], -1), [(label + p) % CLASSES for p in range(4)])


def _tiny_lvvit(mix_token=False):
    return tfzoo.create_model("lvvit_t", input_shape=(32, 32, 3), num_classes=3, depth=1, mix_token=mix_token,
                              img_size=32)


def test_wrapper_trains_on_the_token_labeling_loss():
    keras.utils.set_random_seed(0)
    model = _tiny_lvvit()
    trainer = TokenLabelingModel(model, token_labels=True, cls_weight=0.5, dense_weight=2.0)
    # The trainer's checkpoints and model.keras (EpochCheckpoint) rely on the same variables in the same order.
    assert [v.path for v in trainer.weights] == [v.path for v in model.weights]
    trainer.compile(optimizer=keras.optimizers.SGD(0.0), loss=SoftTargetCrossEntropy(),
                    metrics=[keras.metrics.CategoricalAccuracy(name="top1")])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 32, 3)).astype("float32")
    y = {"onehot": np.eye(3)[[0, 1, 2, 0]].astype("float32"),
         "cls": rng.dirichlet(np.ones(3), 4).astype("float32"),
         "dense": rng.dirichlet(np.ones(3), (4, 4)).astype("float32")}
    logs = trainer.train_on_batch(x, y, return_dict=True)
    # Training mode (BatchNorm on batch statistics); no dropout, drop path or MixToken in this model.
    outputs = trainer.training_view(x, training=True)
    expected = float(TokenLabelingLoss(cls_weight=0.5, dense_weight=2.0)({"cls": y["cls"], "dense": y["dense"]},
                                                                         outputs))
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    # Validation uses the inference output and the compiled loss.
    val = trainer.evaluate(x, y["onehot"], return_dict=True, verbose=0)
    probabilities = np.asarray(model(x))
    assert val["loss"] == pytest.approx(float(np.mean(-np.log(probabilities[y["onehot"] > 0]))), rel=1e-5)


def test_plain_labels_train_the_class_head_only():
    from tfzoo.training.tasks.token_labeling import TokenLabelingTask

    model = _tiny_lvvit()
    task = TokenLabelingTask(label_dir=None, mixtoken=False, cls_weight=1.0, dense_weight=1.0, label_smoothing=0.1)
    trainer = task.wrap(model)
    trainer.compile(optimizer=keras.optimizers.AdamW(1e-2), loss=SoftTargetCrossEntropy())
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype("float32")
    head_before = model.get_layer("head").get_weights()[0].copy()
    trainer.train_on_batch(x, {"onehot": np.eye(3)[[0, 1, 2, 0]].astype("float32")})
    for weight in model.get_layer("aux_head").get_weights():
        np.testing.assert_array_equal(weight, 0.0)
    assert not np.allclose(model.get_layer("head").get_weights()[0], head_before)
