"""tfzoo: a Keras 3 / TensorFlow model zoo for image classification.

The public entry points are the registry functions (`create_model`,
`list_models`, `model_info`), `tfzoo.models` with the family builders,
`reparameterize` / `fuse_bn` (inference-form conversion) and `UsageError`.
They load on first use, so `import tfzoo` stays cheap and the command line
can start TensorFlow on its own terms.
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

__all__ = ["create_model", "list_models", "model_info", "models", "UsageError", "reparameterize", "fuse_bn",
           "__version__"]


def __getattr__(name):
    if name == "models":
        return importlib.import_module("tfzoo.models")
    if name in _LAZY:
        importlib.import_module("tfzoo.models")  # registers every family
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfzoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
