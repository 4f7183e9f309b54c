"""`tfzoo train`: train a model, or resume its run directory.

The flags are validated (`TrainConfig.validate`) before TensorFlow loads, so
a mistake in them answers in well under a second.
"""

from tfzoo.cli.flags import define_train_flags, train_config_from_flags

define_train_flags()
LOADS_TENSORFLOW_ITSELF = True


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError
    from tfzoo.training.config import check_image_size

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; train takes flags only (see --help)")
    config = train_config_from_flags().validate()
    load_tensorflow()
    from tfzoo.models.registry import get_spec
    from tfzoo.training import train

    spec = get_spec(config.model)
    check_image_size(config.image_size, batch_size=config.batch_size, model=spec.name, input_size=spec.input_size)
    train(config)
