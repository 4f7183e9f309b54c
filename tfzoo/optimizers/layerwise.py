"""Per-variable exclusion lists shared by the layer-wise adaptive optimizers (LAMB, LARS).

Exclusions match a variable's path (``"stem_bn/gamma"``, ``"head_fc/bias"``)
by substring, as the reference implementations of LAMB and LARS (BERT's and
SimCLR's) do with variable names. The defaults leave out what timm and the
papers leave out of weight decay: biases, normalization scales and offsets
(Keras names them ``gamma``/``beta`` in every norm layer), position embeddings
and class/distillation tokens.
"""

from __future__ import annotations

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("bias", "gamma", "beta", "pos_embed", "position_embedding", "cls_token",
                                     "class_token", "dist_token")


def variable_path(variable) -> str:
    """The name exclusion lists are matched against: the variable's path, else its name."""
    return str(getattr(variable, "path", None) or variable.name)


def is_excluded(variable, patterns) -> bool:
    """Whether any of `patterns` is a substring of the variable's path."""
    path = variable_path(variable)
    return any(pattern in path for pattern in patterns or ())


def normalize_patterns(patterns, default) -> tuple[str, ...]:
    """`default` when `patterns` is None, else the patterns as a tuple of strings."""
    if patterns is None:
        return tuple(default)
    if isinstance(patterns, str):
        return (patterns,)
    return tuple(str(pattern) for pattern in patterns)
