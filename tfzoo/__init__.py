"""tfzoo: a Keras 3 / TensorFlow model zoo for image classification.

The public entry points are the registry functions re-exported here
(`create_model`, `list_models`, `model_info`) and the family builders in
`tfzoo.models`.
"""

__version__ = "0.1.0"

from tfzoo import models  # noqa: E402  (registers every family)
from tfzoo.errors import UsageError  # noqa: E402
from tfzoo.models.registry import create_model, list_models, model_info  # noqa: E402

__all__ = ["create_model", "list_models", "model_info", "models", "UsageError", "__version__"]
