"""The localization acceptance: a classifier trained on labels only puts its CAM peak on the digit.

Digits are pasted at random places of a larger black canvas
(`tfzoo.visualize.localization.pasted_digits`); a small zoo model is trained
briefly from scratch with the class labels, and on held-out images the peak
of its CAM (and of its Grad-CAM), at the feature map's own cells, must lie
inside the digit's box for at least 90% of them. scripts/cam_localization.py
measures the same with a longer run.
"""

import pytest

from tfzoo.visualize.localization import train_and_measure

# RegNetX-200MF (GAP + one linear head), 96 px canvas, 48 px digits: a 3x3 CAM whose cells are 32 px.
SETTINGS = dict(canvas=96, digit_size=48, num_train=1200, num_val=200, epochs=4, batch_size=32,
                learning_rate=2e-3, seed=0)


@pytest.mark.slow
def test_cam_and_gradcam_peaks_fall_inside_the_digit():
    figures = train_and_measure("regnetx_002", **SETTINGS)
    print(figures)
    assert figures["val_top1"] >= 0.5, figures  # it learned the digits, not only where the ink is
    assert figures["cam_peak_in_box"] >= 0.9, figures
    assert figures["gradcam_peak_in_box"] >= 0.9, figures
