"""The training-recipe options end to end (tiny run) and their validation, model options and CLI grouping."""

import subprocess

import pytest

from tfzoo.errors import UsageError
from tfzoo.optimizers import WarmupStep
from tfzoo.training import TrainConfig, evaluate_run, train
from tfzoo.training import recipe


def test_recipe_run_uses_the_ema_everywhere(tmp_path, capsys):
    config = TrainConfig(model="mobilenet_v3_small_050", run_dir=str(tmp_path / "run"), epochs=1, batch_size=16,
                         steps_per_epoch=2, image_size=32, verbose=0, optimizer="lamb", learning_rate=0.02,
                         lr_base_batch=64, ema=0.9, mixup=0.8, cutmix=1.0, random_erasing=0.25, aug_repeats=2,
                         drop_rate=0.1, drop_path_rate=0.05)
    metrics = train(config)
    out = capsys.readouterr().out
    assert metrics["peak_learning_rate"] == pytest.approx(0.02 * 16 / 64)  # the linear scaling rule
    assert "peak learning rate 0.005 (= 0.02 x batch 16 / 64" in out and "weight EMA 0.9" in out
    # model.keras (eval/export/predict) holds the same EMA weights the final metrics used ...
    assert evaluate_run(str(tmp_path / "run"), batch_size=64)["val_top1"] == pytest.approx(metrics["val_top1"])
    # ... and re-running the finished run restores the averages from the checkpoint.
    again = train(config)
    assert "already finished 1 of 1 epochs" in capsys.readouterr().out
    assert again["val_top1"] == pytest.approx(metrics["val_top1"])


def test_schedule_choice_and_scaling():
    config = TrainConfig(epochs=9, learning_rate=0.1, batch_size=512, lr_base_batch=256, lr_schedule="step",
                         lr_step_epochs=3, warmup_epochs=0)
    schedule, peak = recipe.learning_rate_schedule(config, steps_per_epoch=10)
    assert isinstance(schedule, WarmupStep) and peak == pytest.approx(0.2) and schedule.step_size == 30
    assert float(schedule(31)) == pytest.approx(0.02)


def test_model_options_are_checked_per_family():
    assert recipe.model_overrides(TrainConfig(model="mobilenet_v3_small", drop_rate=0.3, drop_path_rate=0.1)) == {
        "drop_rate": 0.3, "drop_path_rate": 0.1}
    assert recipe.model_overrides(TrainConfig(model="densenet121", drop_rate=0.3)) == {"drop_rate": 0.3}
    with pytest.raises(UsageError, match="densenet121 has no drop path rate option"):
        recipe.model_overrides(TrainConfig(model="densenet121", drop_path_rate=0.1))


@pytest.mark.parametrize("field, value, message", [
    ("ema", 1.0, "--ema must be in"), ("mixup", -1.0, "--mixup"), ("aug_repeats", 0, "--aug_repeats"),
    ("random_erasing", 1.5, "--random_erasing"), ("lr_schedule", "exp", "--lr_schedule"),
    ("lr_base_batch", 0, "--lr_base_batch"), ("optimizer", "adagrad", "--optimizer"),
])
def test_bad_recipe_values_are_usage_errors(field, value, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**{field: value}).validate()


def test_helpfull_groups_the_recipe_flags(tfzoo_cmd):
    result = subprocess.run(tfzoo_cmd + ["train", "--helpfull"], capture_output=True, text=True, timeout=300)
    text = result.stdout  # absl's help flags exit with status 1
    optim = text.index("tfzoo.cli.flags_optim:")
    augment = text.index("tfzoo.cli.flags_augment:")
    # Each group lists its own flags under its heading.
    for flag in ("--optimizer", "--lr_schedule", "--lr_base_batch", "--ema", "--trust_coefficient"):
        assert optim < text.index(f"  {flag}:", optim) < (augment if augment > optim else len(text))
    for flag in ("--mixup", "--cutmix", "--random_erasing", "--aug_repeats", "--drop_rate", "--drop_path_rate"):
        assert augment < text.index(f"  {flag}:", augment) < (optim if optim > augment else len(text))
    assert "--dropout: Alias for --drop_rate." in text
