"""Export for serving and prediction from exports or run directories.

- `export_saved_model`: a TF Serving SavedModel version with preprocessing,
  softmax and top-k in the graph (signatures ``serving_default`` and
  ``predict_images``).
- `predict_files`: top-k classes of image files from such an export or from a
  training run directory.
"""

from tfzoo.export.inference import load_predictor, predict_files
from tfzoo.export.saved_model import export_saved_model, read_export_metadata

__all__ = ["export_saved_model", "load_predictor", "predict_files", "read_export_metadata"]
