"""DenseNet specifics: channel growth and per-layer dropout.

Parameter counts, forward pass, saving and numerical equality with timm's
``densenet121`` are covered by test_all_models.py and test_reference_outputs.py.
"""

import keras
import numpy as np

import tfzoo


def test_densenet161_channels():
    """The odd one out: growth rate 48 and a 96-channel stem (2k), so 2208 final channels.

    Each block adds n_i * k channels, each transition halves them; torchvision's
    num_features is 1024 / 1664 / 1920 for 121 / 169 / 201.
    """
    model = tfzoo.create_model("densenet161", features_only=True, input_shape=(32, 32, 3))
    assert model.get_layer("features_conv0").filters == 96
    assert tuple(model.output[f"stride_{s}"].shape[-1] for s in (4, 8, 16, 32)) == (384, 768, 2112, 2208)


def test_dense_layer_dropout_is_training_only():
    model = tfzoo.create_model("densenet121", input_shape=(32, 32, 3), num_classes=3, dense_layer_dropout=0.5)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == 6 + 12 + 24 + 16 and {layer.rate for layer in dropouts} == {0.5}
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    assert not np.allclose(model(x, training=True), model(x, training=True))
