"""Model families and their entry points.

Importing this package registers every family with `tfzoo.models.registry`.
"""

from tfzoo.models.mobilenetv3 import MobileNetV3, MobileNetV3Large, MobileNetV3Small
from tfzoo.models.registry import create_model, list_models, model_info, register_model

__all__ = [
    "MobileNetV3", "MobileNetV3Large", "MobileNetV3Small",
    "create_model", "list_models", "model_info", "register_model",
]
