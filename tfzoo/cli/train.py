"""`tfzoo train`: train a model, or resume its run directory."""

from tfzoo.cli.flags import define_train_flags, train_config_from_flags

define_train_flags()


def main(args):
    if args:
        from tfzoo.errors import UsageError
        raise UsageError(f"unexpected arguments {' '.join(args)}; train takes flags only (see --help)")
    from tfzoo.training import train

    train(train_config_from_flags())
