"""Packaged training recipes: `tfzoo recipes`, `tfzoo train --recipe NAME` from any directory, package data."""

from __future__ import annotations

import concurrent.futures
import configparser
import json
import os
import subprocess
import sys

import pytest

from tfzoo.cli.main import expand_recipe
from tfzoo.errors import UsageError
from tfzoo.recipes import describe, list_recipes, recipe_dir, recipe_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRETRAIN_RECIPES = ["digits_instdisc", "digits_moco_v1", "digits_moco_v2", "digits_moco_v3", "digits_simclr",
                    "digits_swav", "imagenet_instdisc_resnet50", "imagenet_moco_v2_resnet50",
                    "imagenet_moco_v3_resnet50", "imagenet_simclr_resnet50", "imagenet_swav_resnet50"]
RECIPES = sorted(["digits_annotator_resnet18", "digits_deit_distill", "digits_lamb", "digits_lars",
                  "digits_lvvit_t_plain", "digits_lvvit_t_token_labeling", "dm_nfnet_f0", "repvgg_a0"]
                 + PRETRAIN_RECIPES)
# What a recipe leaves to the command line (its usage line says so).
REQUIRED = {"digits_deit_distill": ["--teacher=runs/teacher-s0"],
            "digits_lvvit_t_token_labeling": ["--token_labels=labels/digits-resnet18"]}

# Parses one recipe with the real `tfzoo train` flag definitions and prints the validated TrainConfig.
PARSE = """
import json, sys
from absl import flags
from tfzoo.cli.flags import define_train_flags, train_config_from_flags
define_train_flags()
flags.FLAGS(["tfzoo train", *sys.argv[1:]])
print(json.dumps(train_config_from_flags().validate().to_dict()))
"""
# The same with the `tfzoo pretrain` flags (method defaults filled for unset flags).
PARSE_PRETRAIN = """
import json, sys
from absl import flags
from tfzoo.cli import pretrain
flags.FLAGS(["tfzoo pretrain", *sys.argv[1:]])
print(json.dumps(pretrain.pretrain_config_from_flags().validate().to_dict()))
"""


def _env(stubs=None):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join(([str(stubs)] if stubs else []) + [REPO])
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """A path entry whose tensorflow and keras packages raise on import."""
    stubs = tmp_path_factory.mktemp("stubs")
    for package in ("tensorflow", "keras"):
        (stubs / package).mkdir()
        (stubs / package / "__init__.py").write_text(f"raise ImportError('{package} imported')\n")
    return stubs


def test_recipes_are_package_data():
    assert list_recipes() == RECIPES
    assert recipe_dir() == os.path.join(REPO, "tfzoo", "recipes")
    setup = configparser.ConfigParser()
    setup.read(os.path.join(REPO, "setup.cfg"))
    assert setup["options.package_data"]["tfzoo.recipes"].strip() == "*.flags"
    assert not os.path.exists(os.path.join(REPO, "recipes")), "recipes live in tfzoo/recipes only"
    assert describe("dm_nfnet_f0").startswith("NFNet-F0 on ImageNet:")
    with pytest.raises(UsageError, match="unknown recipe 'nope'; choose one of digits_annotator_resnet18, "):
        recipe_path("nope")
    with pytest.raises(UsageError, match="unknown recipe"):
        recipe_path("../setup")


def test_recipe_is_read_first_so_the_command_line_overrides_it():
    args = expand_recipe("train", ["--epochs", "3", "--recipe", "digits_lamb", "--batch_size=8"])
    assert args == [f"--flagfile={recipe_path('digits_lamb')}", "--recipe=digits_lamb", "--epochs", "3",
                    "--batch_size=8"]
    assert expand_recipe("train", ["--recipe=repvgg_a0"])[0].endswith(os.path.join("recipes", "repvgg_a0.flags"))
    assert expand_recipe("eval", ["--run_dir", "x"]) == ["--run_dir", "x"]
    with pytest.raises(UsageError, match="not of `tfzoo eval`"):
        expand_recipe("eval", ["--recipe", "digits_lamb"])


def test_every_recipe_parses_and_validates_without_tensorflow(no_tensorflow, tmp_path):
    def parse(name):
        script = PARSE_PRETRAIN if name in PRETRAIN_RECIPES else PARSE
        result = subprocess.run([sys.executable, "-c", script, f"--flagfile={recipe_path(name)}", "--seed=7",
                                 *REQUIRED.get(name, [])],
                                capture_output=True, text=True, env=_env(no_tensorflow), cwd=tmp_path, timeout=120)
        assert result.returncode == 0, result.stderr
        return name, json.loads(result.stdout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        configs = dict(pool.map(parse, RECIPES))
    assert configs["digits_lamb"]["optimizer"] == "lamb" and configs["digits_lamb"]["ema"] == 0.99
    assert configs["digits_lars"]["optimizer"] == "lars" and configs["digits_lars"]["trust_coefficient"] == 0.02
    nfnet = configs["dm_nfnet_f0"]
    assert (nfnet["model"], nfnet["optimizer"], nfnet["agc"], nfnet["epochs"], nfnet["image_size"]) == (
        "dm_nfnet_f0", "nesterov", 0.01, 360, 192)
    assert configs["repvgg_a0"]["weight_decay"] == 1e-3 and configs["repvgg_a0"]["label_smoothing"] == 0
    assert configs["digits_deit_distill"]["distillation"] == "hard"
    assert configs["digits_lvvit_t_token_labeling"]["mixtoken"] is True
    assert configs["digits_simclr"]["ssl"]["method"] == "simclr" and configs["digits_simclr"]["hflip"] is False
    swav = configs["digits_swav"]["ssl"]  # the paper's 3000 prototypes; two large crops, no small ones
    assert (swav["num_prototypes"], swav["num_small_crops"], configs["digits_swav"]["crop_scale_min"]) == (3000, 0, 0.6)
    simclr = configs["imagenet_simclr_resnet50"]  # the paper's run: LARS 0.3 x 4096 / 256, eta 0.001
    assert (simclr["optimizer"], simclr["learning_rate"], simclr["lr_base_batch"], simclr["batch_size"],
            simclr["trust_coefficient"], simclr["ssl"]["temperature"]) == ("lars", 0.3, 256, 4096, 0.001, 0.1)
    moco = configs["imagenet_moco_v2_resnet50"]
    assert (moco["optimizer"], moco["lr_schedule"], moco["ssl"]["queue_size"], moco["ssl"]["temperature"]) == (
        "sgd", "cosine", 65536, 0.2)
    assert all(config["seed"] == 7 for config in configs.values())  # a later flag overrides


def test_recipes_verb_lists_names_and_descriptions(no_tensorflow, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfzoo.cli.main", "recipes"], capture_output=True, text=True,
                            env=_env(no_tensorflow), cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line and not line.startswith("Use:")}
    assert list(rows) == RECIPES
    for name in RECIPES:
        assert rows[name].split(None, 1)[1] == describe(name)


@pytest.mark.slow
def test_train_with_a_recipe_from_another_directory(tmp_path):
    """The recipe's flags apply, flags after --recipe override them, and nothing is read from the cwd."""
    command = [sys.executable, "-m", "tfzoo.cli.main", "train", "--recipe", "digits_lamb",
               "--model", "mobilenet_v3_small_050", "--image_size", "32", "--batch_size", "16", "--epochs", "1",
               "--steps_per_epoch", "1", "--run_dir", "run"]
    result = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "run" / "run.json") as handle:
        train = json.load(handle)["train"]
    # From the recipe ...
    assert (train["optimizer"], train["learning_rate"], train["ema"], train["mixup"], train["cutmix"]) == (
        "lamb", 0.01, 0.99, 0.2, 1.0)
    # ... and overridden on the command line.
    assert (train["model"], train["image_size"], train["batch_size"], train["epochs"]) == (
        "mobilenet_v3_small_050", 32, 16, 1)
