"""``--tensorboard_images N``: N validation heat-map overlays in TensorBoard at the end of every epoch.

The first N validation images are fixed once; at each epoch end their heat
maps (`tfzoo.visualize.cam`, method "auto") are drawn over them and written
as one image summary, ``val_cam``, to ``RUN_DIR/logs/images`` (its own
writer, beside Keras's ``train`` and ``validation``), step = epoch. A failure
to draw warns once and turns the callback off; it never stops training.
"""

from __future__ import annotations

import numpy as np
import keras

from tfzoo.visualize.plots import overlay


class CamImages(keras.callbacks.Callback):
    """Logs heat-map overlays of fixed validation images to TensorBoard each epoch.

    Args:
        log_dir: The directory of the image summaries (``RUN_DIR/logs/images``).
        images: Preprocessed images ``[N, H, W, 3]`` as the model takes them.
        pixels: The same images in 0..255 for drawing ``[N, H, W, 3]``.
        model_fn: Returns the inference model (the trained classifier, not a task wrapper).
        class_names: Names for the image titles in the summary description, or None.
    """

    def __init__(self, log_dir: str, images, pixels, model_fn, class_names=None):
        super().__init__()
        self.log_dir = log_dir
        self.images = np.asarray(images, np.float32)
        self.pixels = np.asarray(pixels, np.float32)
        self.model_fn = model_fn
        self.class_names = class_names
        self._writer = None
        self._failed = False

    def overlays(self) -> np.ndarray:
        """uint8 ``[N, H, W, 3]`` overlays of the current model's heat maps."""
        from tfzoo.visualize.class_maps import cam

        maps, classes = cam(self.model_fn(), self.images, return_classes=True)
        self.last_classes = classes
        return np.stack([overlay(pixels, heat) for pixels, heat in zip(self.pixels, maps)])

    def on_epoch_end(self, epoch, logs=None):
        if self._failed:
            return
        import tensorflow as tf

        try:
            drawn = self.overlays()
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(self.log_dir)
            names = self.class_names
            predicted = ", ".join(names[c] if names else str(c) for c in self.last_classes)
            with self._writer.as_default():
                tf.summary.image("val_cam", drawn, step=epoch, max_outputs=len(drawn),
                                 description=f"predicted classes: {predicted}")
            self._writer.flush()
        except Exception as error:  # noqa: BLE001 (pictures must never stop a run)
            self._failed = True
            print(f"warning: --tensorboard_images turned off: {type(error).__name__}: "
                  f"{' '.join(str(error).split())[:160]}", flush=True)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def cam_images_callback(log_dir: str, val, count: int, preprocess, model_fn, class_names=None) -> CamImages:
    """A `CamImages` over the first `count` images of the validation batches `val` (``(images, labels)``).

    `preprocess` (`tfzoo.data.preprocessing.PreprocessConfig`) undoes the
    normalization for drawing: ``pixels = images * std * 255 + mean * 255``.
    """
    taken = []
    for batch in val:
        taken.append(np.asarray(batch[0], np.float32))
        if sum(len(images) for images in taken) >= count:
            break
    images = np.concatenate(taken)[:count]
    pixels = images * (np.asarray(preprocess.std, np.float32) * 255.0) + np.asarray(preprocess.mean, np.float32) * 255.0
    return CamImages(log_dir, images, pixels, model_fn, class_names)


def write_reports_quietly(run_dir: str, model, val) -> None:
    """`tfzoo.visualize.report.write_run_report`, turning any failure into one warning line (for the trainer)."""
    try:
        from tfzoo.visualize.report import write_run_report

        write_run_report(run_dir, model=model, val=val)
    except Exception as error:  # noqa: BLE001 (a picture must never fail a finished run)
        print(f"warning: could not write report.png / confusion.png: {type(error).__name__}: "
              f"{' '.join(str(error).split())[:160]}", flush=True)
