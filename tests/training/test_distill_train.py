"""`tfzoo train --teacher ... --distillation ...` end to end: teacher kinds, checkpoints without the teacher, resume.

Tiny stand-in models keep this fast: a two-head student shaped like DeiT's
distilled models (Dense ``head`` / ``head_dist``, logits averaged before the
softmax) and a one-conv teacher. They are registered for this module only.
"""

import json
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from tfzoo.data.preprocessing import PreprocessConfig
from tfzoo.errors import UsageError
from tfzoo.models import registry
from tfzoo.training import TrainConfig, train
from tfzoo.training.tasks import Distiller
from tfzoo.training.tasks.teacher import input_adapter, load_teacher, resolve_teacher
from tfzoo.utils.rundir import RunDir

STUDENT, TEACHER = "test_distill_student", "test_distill_teacher"


def tiny_student(num_classes=10, input_shape=(32, 32, 3), include_top=True, pooling=None, weights=None,
                 name=STUDENT, **_):
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Conv2D(8, 8, strides=8, name="patch_embed")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    cls = keras.layers.Dense(num_classes, name="head")(x)
    dist = keras.layers.Dense(num_classes, name="head_dist")(x)
    mean = keras.layers.Average(name="head_mean")([cls, dist])
    outputs = keras.layers.Activation("softmax", dtype="float32", name="predictions")(mean)
    return keras.Model(inputs, outputs, name=name)


def tiny_teacher(num_classes=10, input_shape=(32, 32, 3), include_top=True, pooling=None, weights=None,
                 name=TEACHER, **_):
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Conv2D(16, 4, strides=4, activation="relu", name="stem")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(num_classes, name="classifier")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module", autouse=True)
def tiny_models():
    specs = [registry.ModelSpec(name=name, family="test", builder=builder, kwargs={}, paper="-", reference="-",
                                input_size=32, min_input_size=16)
             for name, builder in ((STUDENT, tiny_student), (TEACHER, tiny_teacher))]
    for spec in specs:
        registry.register_model(spec)
    yield
    for spec in specs:
        registry._MODELS.pop(spec.name, None)


def config(run_dir, **overrides):
    values = dict(model=STUDENT, run_dir=str(run_dir), epochs=1, batch_size=16, steps_per_epoch=2, image_size=32,
                  verbose=0, learning_rate=1e-3, warmup_epochs=0)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("teacher")
    train(config(run_dir, model=TEACHER, steps_per_epoch=3))
    return str(run_dir)


def checkpoint_arrays(path):
    """{dataset path: shape} of a weights file."""
    arrays = {}
    with h5py.File(path) as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, item.shape)
                          if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_distillation_run_saves_student_only_and_resumes(tmp_path, teacher_run, capsys):
    run_dir = tmp_path / "student"
    metrics = train(config(run_dir, epochs=2, teacher=teacher_run, distillation="hard"))
    assert "Distillation hard (alpha 0.5, class + distillation heads) from teacher run" in capsys.readouterr().out
    run = RunDir(str(run_dir))
    model = run.load_model()
    assert model.name == STUDENT and {"head", "head_dist"} <= {layer.name for layer in model.layers}
    assert 0.0 <= metrics["val_top1"] <= 1.0

    # The checkpoint: the student's weights and the optimizer's slots, nothing of the teacher.
    arrays = checkpoint_arrays(run.latest_checkpoint()[1])
    model_arrays = {name: shape for name, shape in arrays.items() if not name.startswith("optimizer")}
    assert sum(int(np.prod(shape)) for shape in model_arrays.values()) == model.count_params()
    teacher_kernel = (4, 4, 3, 16)  # the teacher's stem: in no array of the file
    assert teacher_kernel not in arrays.values()
    # AdamW: its step counter (the learning rate is a schedule) and two moments per student weight.
    assert len(arrays) - len(model_arrays) == 1 + 2 * len(model.weights)

    # Resume continues the student (the teacher is reloaded from --teacher) ...
    resumed = train(config(run_dir, epochs=3, teacher=teacher_run, distillation="hard"))
    assert resumed["resumed_from_epoch"] == 2 and [e for e, _ in run.checkpoints()] == [2, 3]
    # ... and distillation settings are resume keys.
    with pytest.raises(UsageError, match="distillation="):
        train(config(run_dir, epochs=4, teacher=teacher_run, distillation="soft"))


def test_teacher_kinds_give_the_same_logits(tmp_path, teacher_run):
    """A run dir, its export and the model name with its weights are one teacher: same logits (log-probs)."""
    from tfzoo.export import export_saved_model

    run = RunDir(teacher_run)
    teacher_model = run.load_model()
    preprocess = PreprocessConfig.from_dict(run.read_config()["preprocess"])
    export_dir = export_saved_model(teacher_model, str(tmp_path / "export"), preprocess=preprocess)
    weights = str(tmp_path / "teacher.weights.h5")
    teacher_model.save_weights(weights)

    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    from_run, _ = load_teacher(resolve_teacher(teacher_run), num_classes=10, student=preprocess)
    reference = np.asarray(from_run(images))
    probabilities = np.asarray(teacher_model(images))
    np.testing.assert_allclose(np.exp(reference) / np.exp(reference).sum(-1, keepdims=True), probabilities,
                               atol=1e-6)
    for source in (resolve_teacher(str(tmp_path / "export")), resolve_teacher(TEACHER, weights)):
        logits, _ = load_teacher(source, num_classes=10, student=preprocess)
        got = np.asarray(logits(images))
        # Logits agree up to a per-example constant (an export gives log-probabilities).
        np.testing.assert_allclose(got - got.mean(-1, keepdims=True), reference - reference.mean(-1, keepdims=True),
                                   atol=1e-4)
    assert os.path.basename(export_dir) == "1"

    # A soft-distillation run from the export trains.
    metrics = train(config(tmp_path / "from_export", teacher=str(tmp_path / "export"), distillation="soft",
                           distillation_tau=2.0))
    assert np.isfinite(metrics["val_loss"])


def test_input_adapter_renormalizes_and_resizes():
    student = PreprocessConfig(image_size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    teacher_mean, teacher_std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    as_student = (pixels / 255 - 0.5) / 0.5
    as_teacher = (pixels / 255 - np.array(teacher_mean)) / np.array(teacher_std)
    np.testing.assert_allclose(np.asarray(input_adapter(student, teacher_mean, teacher_std, 8)(as_student)),
                               as_teacher, atol=1e-5)
    resized = np.asarray(input_adapter(student, teacher_mean, teacher_std, 4)(as_student))
    assert resized.shape == (2, 4, 4, 3)  # 2x bilinear downsampling without antialias: mean of the 2x2 centers
    np.testing.assert_allclose(resized[:, 0, 0], as_teacher[:, :2, :2].mean((1, 2)), atol=1e-5)
    assert input_adapter(student, student.mean, student.std, 8) is None


@pytest.mark.parametrize("overrides,message", [
    (dict(distillation="hard"), "needs a teacher"),
    (dict(teacher="x", distillation="none"), "--distillation is none"),
    (dict(teacher_weights="w.weights.h5"), "--teacher_weights needs --teacher"),
    (dict(teacher="TEACHER_RUN", distillation="soft", distillation_alpha=1.5), "distillation_alpha must be in"),
    (dict(teacher="TEACHER_RUN", distillation="soft", distillation_tau=0.0), "distillation_tau must be"),
    (dict(teacher="TEACHER_RUN", distillation="soft", distillation_tau=float("inf")), "distillation_tau must be"),
    (dict(teacher="no/such/run", distillation="hard"), "teacher not found"),
    (dict(teacher=TEACHER, distillation="hard"), "pass its trained weights with --teacher_weights"),
    (dict(teacher=TEACHER, teacher_weights="missing.weights.h5", distillation="hard"), "does not exist"),
    (dict(teacher="TEACHER_RUN", teacher_weights="TEACHER_RUN/model.keras", distillation="hard"),
     "drop --teacher_weights"),
    (dict(teacher="TEACHER_RUN", distillation="hard", dataset="DIFFERENT_CLASSES"), "has 10 classes but"),
])
def test_mistakes_are_one_line_usage_errors(tmp_path, teacher_run, overrides, message):
    overrides = {key: value.replace("TEACHER_RUN", teacher_run) if isinstance(value, str) else value
                 for key, value in overrides.items()}
    if overrides.get("dataset") == "DIFFERENT_CLASSES":  # an image folder with 3 classes
        del overrides["dataset"]
        for name in "abc":
            os.makedirs(tmp_path / "images" / name)
            for index in range(6):
                keras.utils.save_img(str(tmp_path / "images" / name / f"{index}.png"), np.zeros((8, 8, 3)))
        overrides["data_dir"] = str(tmp_path / "images")
        overrides["batch_size"] = 4
    with pytest.raises(UsageError, match=message) as raised:
        train(config(tmp_path / "run", **overrides))
    assert "\n" not in str(raised.value)


def test_cli_flags_are_a_helpfull_group_and_mistakes_exit_2(tfzoo_cmd):
    help_text = subprocess.run(tfzoo_cmd + ["train", "--helpfull"], capture_output=True, text=True,
                               timeout=120).stdout
    assert "tfzoo.cli.flags_distill:" in help_text
    for flag in ("--teacher:", "--teacher_weights:", "--distillation:", "--distillation_alpha:",
                 "--distillation_tau:"):
        assert flag in help_text
    result = subprocess.run(tfzoo_cmd + ["train", "--distillation", "hard"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]  # (TensorFlow's own start-up lines may precede it)
    assert last.startswith("tfzoo train: error: --distillation hard needs a teacher")


def test_distiller_wraps_a_multi_worker_student_with_its_workarounds():
    from tfzoo.training import distributed
    from tfzoo.training.tasks.distillation import MultiWorkerDistiller

    student = distributed.MultiWorkerModel.wrap(tiny_student())
    teacher = tiny_teacher()
    wrapper = MultiWorkerDistiller(student, teacher)
    assert isinstance(wrapper, Distiller) and wrapper.train_step.__func__ is not Distiller.train_step
    assert json.dumps(wrapper.inference_model().get_config())  # model.keras is written from the student


def test_distillation_under_mixed_bfloat16_and_split_warning(tmp_path, teacher_run, capsys):
    metrics = train(config(tmp_path / "bf16", teacher=teacher_run, distillation="soft", precision="mixed_bfloat16",
                           seed=1))
    assert np.isfinite(metrics["val_loss"]) and metrics["precision"] == "mixed_bfloat16"
    # The teacher split digits with seed 0: it has trained on some of this run's validation images.
    assert "warning: the teacher was trained with --seed 0 and this run uses --seed 1" in capsys.readouterr().out


@pytest.mark.slow
def test_distillation_mirrored_on_two_cpus_matches_one_device(tmp_path):
    """The DeiT loss under MirroredStrategy is the one-device loss: each term scaled once for the replicas."""
    from tests.training import distributed_testlib as lib

    out = tmp_path / "weights.npz"
    [(code, output)] = lib.run_processes(
        [([sys.executable, "-m", "tests.training.distributed_testlib", "distill_mirrored", str(out), "3"],
          lib.child_env())], timeout=240)
    assert code == 0, output[-4000:]
    result = np.load(out)
    assert int(result["mirrored_replicas"]) == 2 and int(result["one_device_replicas"]) == 1
    for name in ("one_device", "mirrored"):
        np.testing.assert_array_equal(result[f"{name}_teacher_before"], result[f"{name}_teacher_after"])
    # No BatchNorm: only the float32 summation order differs (as in test_distributed.py); a distillation term
    # scaled by the per-replica batch, or not scaled for the replicas, moves the weights by far more.
    index = 0
    while f"one_device_{index}" in result:
        np.testing.assert_allclose(result[f"mirrored_{index}"], result[f"one_device_{index}"], rtol=0, atol=1e-5,
                                   err_msg=f"weight {index}")
        index += 1
    assert index == 6
