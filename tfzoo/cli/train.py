"""`tfzoo train`: train a model, or resume its run directory."""

from tfzoo.cli.flags import define_train_flags, train_config_from_flags
from tfzoo.cli.flags_pretrained import define_pretrained_flag, pretrained_value

define_train_flags()
define_pretrained_flag()  # issue 11: --pretrained[=TAG|PATH] fine-tunes from published weights


def main(args):
    if args:
        from tfzoo.errors import UsageError
        raise UsageError(f"unexpected arguments {' '.join(args)}; train takes flags only (see --help)")
    import dataclasses

    from tfzoo.training import train

    train(dataclasses.replace(train_config_from_flags(), pretrained=pretrained_value()))
