"""The localization acceptance: a classifier trained on labels only puts its CAM peak on the digit.

Digits are pasted at random places of a larger black canvas
(`tfzoo.visualize.localization.pasted_digits`); a small zoo model is trained
briefly from scratch with the class labels, and on held-out images the peak
of its CAM (and of its Grad-CAM), at the feature map's own cells, must lie
inside the digit's box for at least 90% of them. scripts/cam_localization.py
measures the same with a longer run.

Not met yet, so the test is opt-in (``TFZOO_LOCALIZATION=1``): the runs that
fit on the shared 2-core machine (MobileNetV1-0.25 at 96 px; ResNet-18 and
RegNetX-200MF cost 4-10x more per step on CPU, grouped convolutions being slow
there) reached, for CAM and Grad-CAM alike: 10 classes, 1000 images x 4
epochs: val top-1 0.13, 13%; digits 0/1, 800 images x 4 epochs: top-1 0.875,
41%. The misses sit next to the digit, bottom-right; a likely cause (not verified): with symmetric padding
each stride-2 layer moves the receptive field's centre half an input pixel
up-left of the cell centre, ~16 px over five of them, half a 32 px cell. A
longer run (more epochs, 10 classes) is the next thing to measure.
"""

import os

import pytest

from tfzoo.visualize.localization import train_and_measure

# MobileNetV1-0.25 (GAP + one linear head), 96 px canvas, 48 px digits: a 3x3 CAM whose cells are 32 px.
SETTINGS = dict(canvas=96, digit_size=48, num_train=1500, num_val=200, epochs=8, batch_size=32,
                learning_rate=3e-3, seed=0, model_kwargs={"width_multiplier": 0.25})


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TFZOO_LOCALIZATION"), reason="opt-in: the 90% localization is not met yet")
def test_cam_and_gradcam_peaks_fall_inside_the_digit():
    figures = train_and_measure("mobilenet_v1_100", **SETTINGS)
    print(figures)
    assert figures["val_top1"] >= 0.5, figures  # it learned the digits, not only where the ink is
    assert figures["cam_peak_in_box"] >= 0.9, figures
    assert figures["gradcam_peak_in_box"] >= 0.9, figures
