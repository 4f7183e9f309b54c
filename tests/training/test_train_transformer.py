"""Training a transformer under mixed precision and XLA (issue 12, item 6: the training half).

The distilled DeiT is the harder case: a class and a distillation token
concatenated to the patch tokens, a position embedding added to all of them,
two heads averaged. Kept tiny: 32 px (a 2x2 patch grid), batch 8, 2 steps.
"""

import numpy as np
import pytest

from tfzoo.training import TrainConfig, train
from tfzoo.utils.rundir import RunDir

MODEL = "deit_tiny_distilled_patch16_224"


@pytest.mark.slow
@pytest.mark.parametrize("precision,xla", [("mixed_bfloat16", False), ("float32", True), ("mixed_float16", False)])
def test_deit_trains_with_mixed_precision_and_xla(tmp_path, precision, xla):
    metrics = train(TrainConfig(model=MODEL, run_dir=str(tmp_path), epochs=1, batch_size=8, steps_per_epoch=2,
                                image_size=32, precision=precision, xla=xla, verbose=0))
    assert np.isfinite(metrics["val_loss"]) and 0.0 <= metrics["val_top1"] <= 1.0
    assert metrics["precision"] == precision
    model = RunDir(str(tmp_path)).load_model()  # the .keras file round-trips
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    probabilities = np.asarray(model(images))
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-3)
