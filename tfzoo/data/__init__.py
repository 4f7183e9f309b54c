"""tf.data input pipelines: the embedded digits, image folders and TensorFlow Datasets.

`load_dataset` returns a `DatasetBundle` whose ``train`` and ``val`` datasets
yield normalized float32 ``[B, S, S, 3]`` images and int32 ``[B]`` labels,
preprocessed by `tfzoo.data.preprocessing` (the same functions export and
predict use).

Modules: `pipeline` (shared batching recipe, `DatasetBundle`), `digits`,
`folder`, `tfds_source` (one per source), `splits` (seeded stratified
splits), `loader` (`load_dataset`, `load_eval_dataset`), `preprocessing` (image transforms).
"""

from tfzoo.data.loader import (DATASET_NAMES_HELP, dataset_defaults, default_image_size, load_dataset,
                               load_eval_dataset)
from tfzoo.data.pipeline import DatasetBundle

__all__ = ["DATASET_NAMES_HELP", "DatasetBundle", "dataset_defaults", "default_image_size", "load_dataset",
           "load_eval_dataset"]
