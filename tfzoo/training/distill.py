"""Moved: `Distiller` lives in `tfzoo.training.tasks.distillation` (one file per training task).

Kept so that ``from tfzoo.training.distill import Distiller`` keeps working.
"""

from tfzoo.training.tasks.distillation import Distiller

__all__ = ["Distiller"]
