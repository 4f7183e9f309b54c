"""Weight conversion from reference implementations, in NumPy and Keras only.

- `load_timm_state_dict`: assigns a timm (PyTorch) state dict to a tfzoo
  model whose layer names mirror timm's module paths.
- `deterministic_state_dict`: key-seeded weights shared by the reference-output
  script and tests, so stored reference data needs no weights.

Neither imports torch: state dicts arrive as NumPy arrays.
"""

from tfzoo.convert.deterministic import checksums, deterministic_state_dict
from tfzoo.convert.timm import ParamRule, load_timm_state_dict, register_param_rule

__all__ = ["ParamRule", "checksums", "deterministic_state_dict", "load_timm_state_dict", "register_param_rule"]
