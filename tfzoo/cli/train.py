"""`tfzoo train`: train a model, or resume its run directory.

A packaged recipe: tfzoo train --recipe digits_lamb [flags, which override it]
(`tfzoo recipes` lists them). Re-running the same command resumes the run.
Fine-tuning a pre-trained backbone: tfzoo train --init_from PRETRAIN_RUN [flags].
"""

import dataclasses

from absl import flags

from tfzoo.cli.flags import define_train_flags, train_config_from_flags
from tfzoo.cli.flags_pretrained import define_pretrained_flag, pretrained_value

define_train_flags()
define_pretrained_flag()  # --pretrained[=TAG|PATH] fine-tunes from published weights
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True  # after the flags are validated, so a mistake answers at once


def main(args):
    from tfzoo.cli import _runtime
    from tfzoo.errors import UsageError
    from tfzoo.training.config import check_image_size

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; train takes flags only (see --help)")
    if FLAGS.recipe is not None and FLAGS.recipe != _runtime.expanded_recipe:
        raise UsageError(f"--recipe={FLAGS.recipe} inside a flag file is not read; pass --recipe on the command line")
    config = dataclasses.replace(train_config_from_flags(), pretrained=pretrained_value())
    if config.init_from and not FLAGS["model"].present:  # fine-tune the model the run pre-trained
        from tfzoo.training.linear_eval_config import check_pretrain_run

        config = dataclasses.replace(config, model=check_pretrain_run(config.init_from, "train --init_from")["model"])
    config = config.validate()
    _runtime.load_tensorflow()
    from tfzoo.models.registry import get_spec
    from tfzoo.training import train

    spec = get_spec(config.model)
    check_image_size(config.image_size, batch_size=config.batch_size, model=spec.name, input_size=spec.input_size)
    train(config)
