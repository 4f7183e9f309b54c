"""Stochastic depth (Huang et al. 2016, arXiv 1603.09382) as a Keras layer.

During training each sample's residual branch is zeroed with probability
`rate` and the survivors are scaled by ``1 / (1 - rate)``, so inference needs
no rescaling. Matches timm's ``DropPath`` (``scale_by_keep=True``).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfzoo")
class DropPath(keras.layers.Layer):
    """Drops whole residual branches per sample.

    Args:
        rate: Probability of dropping the branch, in [0, 1).
        seed: Optional seed for the layer's random generator.
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(noise < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
