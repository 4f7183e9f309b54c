"""RegNet stage widths from the design-space rule, checked against the paper's published models."""

import pytest

from tfzoo.errors import UsageError
from tfzoo.models import regnet
from tfzoo.models.regnet import Stage


# (widths, depths, group widths) of pycls' model zoo / the paper's Figure 14 and 15 tables.
PUBLISHED = {
    "x_002": ((24, 56, 152, 368), (1, 1, 4, 7), 8),
    "x_004": ((32, 64, 160, 384), (1, 2, 7, 12), 16),
    "x_016": ((72, 168, 408, 912), (2, 4, 10, 2), 24),
    "x_080": ((80, 240, 720, 1920), (2, 5, 15, 1), (80, 120, 120, 120)),  # group width capped by the stage width
    "y_008": ((64, 128, 320, 768), (1, 3, 8, 2), 16),
    "y_040": ((128, 192, 512, 1088), (2, 6, 12, 2), 64),
    "y_320": ((232, 696, 1392, 3712), (2, 5, 12, 1), 232),
}


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_stage_plan_matches_published_widths(variant):
    widths, depths, groups = PUBLISHED[variant]
    groups = groups if isinstance(groups, tuple) else (groups,) * 4
    assert regnet.stage_plan(regnet.ARCHITECTURES[variant]) == [Stage(*row) for row in zip(widths, depths, groups)]


def test_regnety_se_width_is_a_quarter_of_the_block_input():
    model = regnet.RegNet("y_002", input_shape=(32, 32, 3), num_classes=10)
    # s1_b1: input is the 32-wide stem -> 8; s2_b1: input 24 -> 6; s2 has one block, s3_b2 input 152 -> 38.
    assert model.get_layer("s1_b1_se_fc1").get_config()["filters"] == 8
    assert model.get_layer("s2_b1_se_fc1").get_config()["filters"] == 6
    assert model.get_layer("s3_b2_se_fc1").get_config()["filters"] == 38
    # SE sits between the grouped 3x3 and the last 1x1 conv, as in timm's RegNet bottleneck.
    assert model.get_layer("s3_b2_conv3_conv").input is model.get_layer("s3_b2_se_scale").output
    conv2 = model.get_layer("s3_b2_conv2_conv").get_config()
    assert conv2["groups"] == 152 // 8 and tuple(conv2["strides"]) == (1, 1)


def test_regnetx_has_no_se_and_strides_each_stage():
    model = regnet.RegNet("x_002", input_shape=(64, 64, 3), include_top=False)
    assert not [layer for layer in model.layers if "_se_" in layer.name]
    assert model.output_shape == (None, 2, 2, 368)
    assert tuple(model.get_layer("s1_b1_conv2_conv").get_config()["strides"]) == (2, 2)


def test_unknown_variant():
    with pytest.raises(UsageError, match="unknown regnet variant 'z_040'; choose one of x_002, .*, y_320$"):
        regnet.RegNet("z_040")
