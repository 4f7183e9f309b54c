"""`WrappedOptimizer`: the base of optimizers that change the gradients or the step, then call another one.

`tfzoo.optimizers.AGC` (clipping) and `tfzoo.training.nan.SkipNonFinite`
(skipping non-finite steps) both wrap an optimizer. The wrapper keeps no
state of its own in checkpoints: its `variables`, `iterations` and
`learning_rate` are the wrapped optimizer's, so a checkpoint written with or
without a wrapper restores into the other, and wrappers nest.
"""

from __future__ import annotations

import keras


class WrappedOptimizer(keras.optimizers.Optimizer):
    """Delegates state and the update to `inner_optimizer`; subclasses override `apply`.

    Args:
        inner_optimizer: The optimizer to wrap.
        name: Optimizer name.
    """

    def __init__(self, inner_optimizer, name: str):
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise ValueError(f"{type(self).__name__} wraps a keras.optimizers.Optimizer, "
                             f"got {type(inner_optimizer).__name__}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        self.built = True

    @property
    def variables(self):
        return self.inner_optimizer.variables

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        # The base constructor sets a placeholder before `inner_optimizer` exists.
        if "inner_optimizer" in self.__dict__:
            self.inner_optimizer.learning_rate = learning_rate

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {"name": self.name, "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
