"""Projection, prediction and prototype heads of the self-supervised methods, as small functional models.

Each builder returns a ``keras.Model`` from pooled backbone features
``[B, input_dim]``; widths are arguments (the digits recipes shrink them).
Layer names follow the references' module paths (``.`` spelled ``_``).
BatchNormalization uses momentum 0.9 and epsilon 1e-5 (PyTorch's 0.1 / 1e-5,
SimCLR's ``batch_norm_decay`` 0.9); ``synchronized=True`` computes its
statistics over all replicas, as SimCLR's ``global_bn`` and the SyncBN of
MoCo v3 and SwAV do. PyTorch ``nn.Linear`` layers keep PyTorch's default
initialization (uniform ``+-1/sqrt(fan_in)`` for kernel and bias).

- `simclr_projection_head`: google-research/simclr ``tf2/model.py``
  ``ProjectionHead`` (``proj_head_mode=nonlinear``, ``num_proj_layers=3``):
  Dense (no bias, N(0, 0.01)) + BN + ReLU twice at the input width, then
  Dense(128, no bias) + BN without centering (``center=use_bias=False``).
- `moco_projection_head`: facebookresearch/moco: v1 ``fc`` = Linear(128);
  v2 (``--mlp``) Linear(dim_mlp) -> ReLU -> Linear(128).
- `moco_v3_mlp` / `moco_v3_projector` / `moco_v3_predictor`:
  facebookresearch/moco-v3 ``_build_mlp``: bias-free Linear layers, BN + ReLU
  after each hidden layer, and a BN without affine after the last one when
  ``last_bn``. ResNet: 2-layer projector, predictor without the last BN;
  ViT: 3-layer projector, predictor with it. Hidden 4096, output 256.
- `swav_head`: facebookresearch/swav ``src/resnet50.py`` ``forward_head``:
  Linear(2048) + BN + ReLU + Linear(128) (``hidden_mlp=0``: one Linear),
  L2 normalization, then the bias-free ``prototypes`` Linear(3000). Outputs
  ``(embedding, scores)``.
- `instdisc_head`: zhirongw/lemniscate.pytorch: Linear(128) + L2 normalization.
"""

from __future__ import annotations

import math

import keras

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def _torch_dense(units: int, fan_in: int, *, use_bias: bool = True, name: str):
    """``keras.layers.Dense`` initialized as PyTorch's ``nn.Linear`` (kaiming-uniform a=sqrt(5) and bias)."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.layers.Dense(units, use_bias=use_bias,
                              kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
                              bias_initializer=keras.initializers.RandomUniform(-bound, bound), name=name)


def _batch_norm(name: str, *, affine: bool = True, center: bool | None = None, synchronized: bool = False):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                           center=affine if center is None else center, scale=affine,
                                           synchronized=synchronized, name=name)


def simclr_projection_head(input_dim: int, out_dim: int = 128, num_layers: int = 3, hidden_dim: int | None = None,
                           synchronized: bool = False, name: str = "projection_head") -> keras.Model:
    """SimCLR's nonlinear projection head (``nl_0`` ... ``nl_{num_layers-1}``).

    Args:
        input_dim: Backbone feature width.
        out_dim: ``proj_out_dim`` (128).
        num_layers: ``num_proj_layers`` (3).
        hidden_dim: Width of the middle layers (SimCLR: the input width).
        synchronized: Cross-replica BN (SimCLR ``global_bn``).
        name: Model name and layer-name prefix.
    """
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    x = inputs
    for index in range(num_layers):
        last = index == num_layers - 1
        width = out_dim if last else (hidden_dim or input_dim)
        x = keras.layers.Dense(width, use_bias=False, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                               name=f"{name}_nl_{index}_dense")(x)
        # SimCLR's BatchNormRelu(center=use_bias): the last layer has no bias, hence no beta.
        x = _batch_norm(f"{name}_nl_{index}_bn", center=not last, synchronized=synchronized)(x)
        if not last:
            x = keras.layers.ReLU(name=f"{name}_nl_{index}_relu")(x)
    return keras.Model(inputs, x, name=name)


def moco_projection_head(input_dim: int, out_dim: int = 128, mlp: bool = True, hidden_dim: int | None = None,
                         name: str = "fc") -> keras.Model:
    """MoCo v1 (``mlp=False``: one Linear) or v2 (Linear -> ReLU -> Linear) head.

    Args:
        input_dim: Backbone feature width (``dim_mlp``).
        out_dim: ``--moco-dim`` (128).
        mlp: MoCo v2's ``--mlp``.
        hidden_dim: Hidden width (MoCo v2: the input width).
        name: Model name and layer-name prefix (the reference's ``fc``).
    """
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    if not mlp:
        return keras.Model(inputs, _torch_dense(out_dim, input_dim, name=name)(inputs), name=name)
    hidden = hidden_dim or input_dim
    x = _torch_dense(hidden, input_dim, name=f"{name}_0")(inputs)
    x = keras.layers.ReLU(name=f"{name}_1")(x)
    x = _torch_dense(out_dim, hidden, name=f"{name}_2")(x)
    return keras.Model(inputs, x, name=name)


def moco_v3_mlp(input_dim: int, num_layers: int, mlp_dim: int = 4096, out_dim: int = 256, last_bn: bool = True,
                synchronized: bool = False, name: str = "mlp") -> keras.Model:
    """MoCo v3's ``_build_mlp``: layers named by their index in the reference's ``nn.Sequential``.

    Args:
        input_dim: Input width.
        num_layers: Linear layers.
        mlp_dim: Hidden width (4096).
        out_dim: Output width (256).
        last_bn: BN without affine parameters after the last Linear.
        synchronized: Cross-replica BN (the reference converts to SyncBN).
        name: Model name and layer-name prefix.
    """
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    x = inputs
    position = 0
    for index in range(num_layers):
        fan_in = input_dim if index == 0 else mlp_dim
        last = index == num_layers - 1
        x = _torch_dense(out_dim if last else mlp_dim, fan_in, use_bias=False, name=f"{name}_{position}")(x)
        position += 1
        if not last:
            x = _batch_norm(f"{name}_{position}", synchronized=synchronized)(x)
            x = keras.layers.ReLU(name=f"{name}_{position + 1}")(x)
            position += 2
        elif last_bn:
            x = _batch_norm(f"{name}_{position}", affine=False, synchronized=synchronized)(x)
    return keras.Model(inputs, x, name=name)


# backbone kind -> (projector layers, predictor's last BN), from MoCo_ResNet / MoCo_ViT.
MOCO_V3_MLPS = {"resnet": (2, False), "vit": (3, True)}


def _moco_v3_kind(backbone: str):
    if backbone not in MOCO_V3_MLPS:
        raise ValueError(f"backbone must be one of {sorted(MOCO_V3_MLPS)}, got {backbone!r}")
    return MOCO_V3_MLPS[backbone]


def moco_v3_projector(input_dim: int, backbone: str = "resnet", dim: int = 256, mlp_dim: int = 4096,
                      synchronized: bool = False, name: str = "projector") -> keras.Model:
    """MoCo v3 projector (the backbone's new ``fc`` / ``head``): 2 layers for ResNets, 3 for ViTs."""
    num_layers, _ = _moco_v3_kind(backbone)
    return moco_v3_mlp(input_dim, num_layers, mlp_dim, dim, last_bn=True, synchronized=synchronized, name=name)


def moco_v3_predictor(backbone: str = "resnet", dim: int = 256, mlp_dim: int = 4096, synchronized: bool = False,
                      name: str = "predictor") -> keras.Model:
    """MoCo v3 predictor: 2 layers, last BN only for ViTs."""
    _, last_bn = _moco_v3_kind(backbone)
    return moco_v3_mlp(dim, 2, mlp_dim, dim, last_bn=last_bn, synchronized=synchronized, name=name)


def swav_head(input_dim: int, hidden_dim: int = 2048, out_dim: int = 128, num_prototypes: int = 3000,
              synchronized: bool = False, name: str = "swav_head") -> keras.Model:
    """SwAV projection head, L2 normalization and prototypes.

    Args:
        input_dim: Backbone feature width.
        hidden_dim: ``--hidden_mlp`` (2048); 0: a single Linear projection.
        out_dim: ``--feat_dim`` (128).
        num_prototypes: ``--nmb_prototypes`` (3000); the bias-free Dense
            layer ``prototypes`` (kernel ``[out_dim, K]``: normalize its
            columns with `tfzoo.losses.normalize_prototypes` before each step).
        synchronized: Cross-replica BN (the reference's SyncBN).
        name: Model name.

    Returns:
        A model with outputs ``(embedding, scores)``: the normalized
        ``[B, out_dim]`` embedding and ``[B, K]`` prototype scores.
    """
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    if hidden_dim:
        x = _torch_dense(hidden_dim, input_dim, name="projection_head_0")(inputs)
        x = _batch_norm("projection_head_1", synchronized=synchronized)(x)
        x = keras.layers.ReLU(name="projection_head_2")(x)
        x = _torch_dense(out_dim, hidden_dim, name="projection_head_3")(x)
    else:
        x = _torch_dense(out_dim, input_dim, name="projection_head")(inputs)
    embedding = keras.layers.UnitNormalization(axis=-1, name="l2norm")(x)
    scores = _torch_dense(num_prototypes, out_dim, use_bias=False, name="prototypes")(embedding)
    return keras.Model(inputs, [embedding, scores], name=name)


def instdisc_head(input_dim: int, out_dim: int = 128, name: str = "instdisc_head") -> keras.Model:
    """Instance discrimination's embedding: Linear(``low_dim`` 128) + L2 normalization."""
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    x = _torch_dense(out_dim, input_dim, name="fc")(inputs)
    return keras.Model(inputs, keras.layers.UnitNormalization(axis=-1, name="l2norm")(x), name=name)
