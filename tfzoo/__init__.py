"""tfzoo: a Keras 3 / TensorFlow model zoo for image classification.

The public entry points are the registry functions (`create_model`,
`list_models`, `model_info`), `reparameterize` / `fuse_bn` (inference-form
conversion), `UsageError`, and the subpackages `tfzoo.models`,
`tfzoo.layers`, `tfzoo.losses`, `tfzoo.optimizers`, `tfzoo.data`,
`tfzoo.training`, `tfzoo.export`, `tfzoo.convert`, `tfzoo.recipes` and
`tfzoo.visualize`.
Everything loads on first use (``tfzoo.optimizers.LAMB`` works after a bare
``import tfzoo``), so `import tfzoo` stays cheap and the command line can
start TensorFlow on its own terms.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "create_model": "tfzoo.models.registry",
    "list_models": "tfzoo.models.registry",
    "model_info": "tfzoo.models.registry",
    "UsageError": "tfzoo.errors",
    "reparameterize": "tfzoo.models.reparam",
    "fuse_bn": "tfzoo.models.reparam",
}

# Subpackages imported on first attribute access.
SUBPACKAGES = ("models", "layers", "losses", "optimizers", "data", "training", "export", "convert", "recipes",
               "visualize")

__all__ = ["create_model", "list_models", "model_info", "UsageError", "reparameterize", "fuse_bn",
           "__version__", *SUBPACKAGES]


def __getattr__(name):
    if name in SUBPACKAGES:
        return importlib.import_module(f"tfzoo.{name}")
    if name in _LAZY:
        importlib.import_module("tfzoo.models")  # registers every family
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfzoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
