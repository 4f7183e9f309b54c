"""Reusable blocks and custom layers. Layers never import models."""

from tfzoo.layers.activations import activation, keras_activation_name
from tfzoo.layers.bottleneck import BlockNames, basic_block, bottleneck_block, resnext_width, se_module, shortcut
from tfzoo.layers.conv import conv2d, conv_norm_act, depthwise_conv2d, make_divisible
from tfzoo.layers.drop_path import DropPath
from tfzoo.layers.head import TokenPool, TokensToMap, classifier, global_pool
from tfzoo.layers.mix_token import MixedLambda, MixToken, UnmixTokens
from tfzoo.layers.mobile_blocks import depthwise_separable, inverted_residual
from tfzoo.layers.nf_layers import NF_GAMMAS, NFResidual, ScaleByConstant, ScaledActivation
from tfzoo.layers.norm import NORM_KINDS, NormConfig, norm_layer
from tfzoo.layers.padded_pooling import avg_pool2d, max_pool2d
from tfzoo.layers.pos_embed import AbsolutePositionEmbedding, bicubic_matrix, resample_position_embedding
from tfzoo.layers.rep_block import RepVGGBlock
from tfzoo.layers.reparam import Reparameterizable, fold_batch_norm
from tfzoo.layers.separable import separable_conv2d
from tfzoo.layers.squeeze_excite import squeeze_excite
from tfzoo.layers.ssl_heads import (instdisc_head, moco_projection_head, moco_v3_mlp, moco_v3_predictor,
                                    moco_v3_projector, simclr_projection_head, swav_head)
from tfzoo.layers.transformer import (FusedQKVAttention, LayerScale, PrefixTokens, SelectToken, mixer_block, mlp,
                                      multi_head_self_attention, patch_embed, transformer_block, trunc_normal_init)
from tfzoo.layers.weight_norm import WeightNormalization
from tfzoo.layers.whole_map_conv import WholeMapConv2D
from tfzoo.layers.ws_conv import ScaledWSConv2D, WSConv2D

__all__ = [
    "MixToken", "MixedLambda", "UnmixTokens",
    "BlockNames", "basic_block", "bottleneck_block", "resnext_width", "se_module", "shortcut",
    "avg_pool2d", "max_pool2d", "separable_conv2d",
    "activation", "keras_activation_name", "conv2d", "conv_norm_act", "depthwise_conv2d", "make_divisible",
    "DropPath", "TokenPool", "TokensToMap", "classifier", "global_pool", "depthwise_separable", "inverted_residual", "NormConfig",
    "norm_layer", "squeeze_excite", "RepVGGBlock", "Reparameterizable", "fold_batch_norm",
    "NORM_KINDS", "NF_GAMMAS", "NFResidual", "ScaleByConstant", "ScaledActivation",
    "ScaledWSConv2D", "WSConv2D", "WeightNormalization", "WholeMapConv2D",
    "AbsolutePositionEmbedding", "bicubic_matrix", "resample_position_embedding", "FusedQKVAttention", "LayerScale",
    "PrefixTokens", "SelectToken", "mixer_block", "mlp", "multi_head_self_attention", "patch_embed",
    "transformer_block", "trunc_normal_init",
    "simclr_projection_head", "moco_projection_head", "moco_v3_mlp", "moco_v3_projector", "moco_v3_predictor",
    "swav_head", "instdisc_head",
]
