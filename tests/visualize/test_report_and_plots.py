"""Run reports (history from TensorBoard logs, confusion matrix) and the PNG writers."""

import matplotlib.image
import numpy as np
import pytest

from tfzoo.visualize import overlay, save_feature_grid, save_overlay
from tfzoo.visualize.plots import colormap
from tfzoo.visualize.report import confusion_matrix, most_confused, plot_confusion, plot_history, read_history


def test_overlay_blends_the_colormap_over_the_image():
    image = np.full((4, 6, 3), 100.0, np.float32)
    heat = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    expected = 0.6 * 100.0 + 0.4 * colormap("viridis")(heat)[..., :3] * 255.0
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.4, cmap="viridis"),
                                  np.clip(np.round(expected), 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="differ in size"):
        overlay(image, heat[:3])


def test_pngs_are_written_and_readable(tmp_path):
    image = np.zeros((16, 16, 3), np.float32)
    image[4:8, 4:8] = 255.0
    heat = np.zeros((16, 16), np.float32)
    heat[4:8, 4:8] = 1.0
    picture = matplotlib.image.imread(save_overlay(str(tmp_path / "o.png"), image, heat, title="class 3"))
    assert picture.ndim == 3 and picture.shape[1] > picture.shape[0]  # image and overlay side by side
    grid = matplotlib.image.imread(save_feature_grid(str(tmp_path / "g.png"), np.random.rand(5, 5, 10), max_channels=9))
    assert grid.ndim == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "o.png"]  # no temporary files left


def test_confusion_matrix_and_most_confused_pairs(tmp_path):
    labels = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    predictions = [0, 1, 1, 2, 2, 2, 0, 2, 2]
    matrix = confusion_matrix(labels, predictions, 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 2], [1, 0, 3]])
    assert most_confused(matrix, top=2) == [(1, 2, 2), (0, 1, 1)]
    assert most_confused(np.eye(3, dtype=np.int64)) == []
    assert matplotlib.image.imread(plot_confusion(matrix, str(tmp_path / "c.png"), ["a", "b", "c"])).ndim == 3


def test_history_is_read_from_tensorboard_logs_and_a_resume_overrides(tmp_path):
    import tensorflow as tf

    def log(split, values, name):
        writer = tf.summary.create_file_writer(str(tmp_path / "logs" / split), filename_suffix=name)
        with writer.as_default():
            for step, (tag, value) in values:
                tf.summary.scalar(tag, value, step=step)
        writer.close()

    log("train", [(0, ("epoch_loss", 2.0)), (1, ("epoch_loss", 1.5)), (0, ("epoch_learning_rate", 0.1))], "a")
    log("validation", [(0, ("epoch_top1", 0.25)), (0, ("evaluation_loss_vs_iterations", 9.0))], "a")
    import time
    time.sleep(1.1)  # a resumed run's file has a later time stamp in its name
    log("train", [(1, ("epoch_loss", 1.25)), (2, ("epoch_loss", 1.0))], "b")
    history = read_history(str(tmp_path / "logs"))
    assert history["train"]["loss"] == {0: 2.0, 1: 1.25, 2: 1.0}
    assert history["train"]["learning_rate"] == {0: pytest.approx(0.1)}
    assert history["validation"] == {"top1": {0: 0.25}}
    assert matplotlib.image.imread(plot_history(history, str(tmp_path / "r.png"))).ndim == 3
