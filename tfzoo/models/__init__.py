"""Model families and their entry points.

Importing this package registers every family with `tfzoo.models.registry`.
"""

from tfzoo.models.deit import DeiT
from tfzoo.models.densenet import DenseNet, DenseNet121, DenseNet161, DenseNet169, DenseNet201
from tfzoo.models.efficientnet import (EfficientNet, EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3,
                                      EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7)
from tfzoo.models.inception import InceptionV3
from tfzoo.models.mixer import MLPMixer
from tfzoo.models.lvvit import LVViT
from tfzoo.models.mobilenet import MobileNetV1, MobileNetV2
from tfzoo.models.mobilenetv3 import MobileNetV3, MobileNetV3Large, MobileNetV3Small
from tfzoo.models.nfnet import NFNet, NFResNet
from tfzoo.models.regnet import RegNet
from tfzoo.models.repvgg import RepVGG
from tfzoo.models.registry import FeatureInfo, ModelSpec, create_model, list_models, model_info, register_model
from tfzoo.models.resnet import ResNet, ResNet18, ResNet34, ResNet50, ResNet101, ResNet152, ResNeXt, SEResNeXt
from tfzoo.models.vgg import VGG, VGG11, VGG13, VGG16, VGG19
from tfzoo.models.vit import ViT
from tfzoo.models.xception import Xception
from tfzoo.models.zoo_model import ZooModel

__all__ = [
    "RegNet", "RepVGG", "ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNeXt",
    "SEResNeXt", "VGG", "VGG11", "VGG13", "VGG16", "VGG19",
    "DenseNet", "DenseNet121", "DenseNet161", "DenseNet169", "DenseNet201", "InceptionV3", "Xception",
    "EfficientNet", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "MobileNetV1", "MobileNetV2",
    "LVViT", "MobileNetV3", "MobileNetV3Large", "MobileNetV3Small", "NFNet", "NFResNet",
    "ViT", "DeiT", "MLPMixer",
    "FeatureInfo", "ModelSpec", "ZooModel", "create_model", "list_models", "model_info", "register_model",
]
