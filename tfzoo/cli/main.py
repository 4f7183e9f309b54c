"""`tfzoo` command line: ``tfzoo VERB [flags]``.

Each verb lives in its own module with absl flags (``--flagfile`` and
``--helpfull`` work as usual; ``tfzoo train --recipe NAME`` reads a packaged
recipe, see `tfzoo.recipes`). A user mistake (`UsageError`, a bad flag)
prints one line on stderr and exits with code 2, never a traceback; a run
that diverged (`TrainingDiverged`) prints one line and exits with code 1.

TensorFlow is imported only once the flags have parsed, and only for verbs
that need it (see `tfzoo.cli._runtime`): ``tfzoo VERB --help``, ``tfzoo
recipes`` and flag errors answer without it.
"""

from __future__ import annotations

import importlib
import os
import sys

from tfzoo.cli._runtime import fail, load_tensorflow

VERBS = {
    "list": ("tfzoo.cli.list_cmd", "list registered models: tfzoo list [PATTERN]"),
    "train": ("tfzoo.cli.train", "train or resume a model: tfzoo train --model mobilenet_v3"),
    "pretrain": ("tfzoo.cli.pretrain", "self-supervised pre-training of a backbone: tfzoo pretrain --method simclr "
                 "--model resnet50"),
    "eval": ("tfzoo.cli.eval", "evaluate a run: tfzoo eval --run_dir RUN"),
    "export": ("tfzoo.cli.export", "write a TF Serving SavedModel: tfzoo export --run_dir RUN --output DIR"),
    "predict": ("tfzoo.cli.predict", "top-5 classes of images: tfzoo predict --source RUN_OR_EXPORT IMAGE..."),
    "benchmark": ("tfzoo.cli.benchmark", "params, FLOPs and images/s: tfzoo benchmark --model NAME"),
    "recipes": ("tfzoo.cli.recipes_cmd", "list the packaged training recipes: tfzoo train --recipe NAME"),
    # --- pretrained weights (issue 11) ---
    "convert": ("tfzoo.cli.convert", "timm safetensors checkpoint -> .keras, offline: tfzoo convert --model NAME "
                "--checkpoint FILE.safetensors --output OUT.keras"),
    # --- visualization (issue 15) ---
    "cam": ("tfzoo.cli.cam", "heat maps (CAM / Grad-CAM) over images: tfzoo cam --source RUN IMAGE... --output DIR"),
    "features": ("tfzoo.cli.features", "a layer's feature maps as a grid: tfzoo features --source RUN --layer NAME "
                 "IMAGE --output grid.png"),
    "report": ("tfzoo.cli.report", "curves and confusion matrix of a run: tfzoo report --run_dir RUN"),
    "relabel": ("tfzoo.cli.relabel", "dense label maps for token labeling: tfzoo relabel --annotator RUN --output DIR"),
    # --- self-supervised evaluation (issue 14) ---
    "linear_eval": ("tfzoo.cli.linear_eval", "linear classifier + kNN on a frozen pre-trained backbone: "
                    "tfzoo linear_eval --run_dir PRETRAIN_RUN"),
}


RECIPE_VERBS = ("train", "pretrain")


def usage() -> str:
    lines = ["usage: tfzoo VERB [flags]   (tfzoo VERB --help for a verb's flags)", "", "verbs:"]
    lines += [f"  {verb:<12} {text}" for verb, (_, text) in VERBS.items()]
    return "\n".join(lines)


def _keep_absl_at_warning() -> None:
    """Keeps absl logging at WARNING unless the user passed ``--verbosity``.

    absl's `app.run` raises an unset ``--verbosity`` to INFO after parsing,
    and TensorFlow's SavedModel writer logs through absl at INFO (signature
    input renames, checkpoint sharding timings, ``fingerprinting_utils``
    "Writing fingerprint to ..."), so `tfzoo export` printed lines that say
    nothing to the user. Setting the flag to absl's own default marks it as
    set, so `app.run` leaves it; ``--verbosity=0`` still shows INFO.
    """
    from absl import flags

    if flags.FLAGS["verbosity"].using_default_value:
        flags.FLAGS.verbosity = -1  # absl's WARNING


def _list_verb_flags_in_help(flag_values) -> None:
    """Makes ``--help`` list the verb's flags: absl's --help shows the main module's key flags only.

    ``--helpfull`` still lists every flag grouped by defining module (for
    train: tfzoo.cli.flags, flags_optim, flags_augment).
    """
    for module_name, module_flags in flag_values.flags_by_module_dict().items():
        if module_name.startswith("tfzoo."):
            for flag in module_flags:
                flag_values.register_key_flag_for_module(sys.argv[0], flag)


def _flag_value(args: list[str], index: int, name: str) -> tuple[str | None, int]:
    """The value of flag `name` at ``args[index]`` (``--name=V``, ``--name V``, one dash too) and its token count."""
    arg = args[index]
    for prefix in (f"--{name}", f"-{name}"):
        if arg.startswith(prefix + "="):
            return arg[len(prefix) + 1:], 1
        if arg == prefix:
            return (args[index + 1], 2) if index + 1 < len(args) else (None, 1)
    return None, 0


def expand_recipe(verb: str, args: list[str]) -> list[str]:
    """Turns ``--recipe NAME`` into the packaged flag file, read before every other flag.

    The recipe's flags come first, so flags on the command line override
    them wherever they stand. `tfzoo train` and `tfzoo pretrain` take ``--recipe``.

    Raises:
        UsageError: unknown recipe, a second ``--recipe``, or a missing name.
    """
    from tfzoo.errors import UsageError

    names, rest, index = [], [], 0
    while index < len(args):
        if args[index] == "--":  # what follows is positional
            rest.extend(args[index:])
            break
        value, used = _flag_value(args, index, "recipe")
        if used:
            if not value:
                raise UsageError("--recipe needs a name, e.g. --recipe digits_lamb (`tfzoo recipes` lists them)")
            names.append(value)
            index += used
        else:
            rest.append(args[index])
            index += 1
    if not names:
        return args
    if verb not in RECIPE_VERBS:
        raise UsageError(f"--recipe is a flag of `tfzoo train` and `tfzoo pretrain`, not of `tfzoo {verb}`")
    if len(names) > 1:
        raise UsageError(f"one --recipe at a time, got {', '.join(names)}; add flags after it to change it")
    from tfzoo.cli import _runtime
    from tfzoo.recipes import recipe_path

    path = recipe_path(names[0])
    _runtime.expanded_recipe = names[0]
    return [f"--flagfile={path}", f"--recipe={names[0]}"] + rest


def check_flagfiles(args: list[str]) -> None:
    """Names a missing ``--flagfile`` in one line (absl says "ERROR:: Unable to open flagfile")."""
    from tfzoo.errors import UsageError

    for index in range(len(args)):
        if args[index] == "--":
            return
        value, used = _flag_value(args, index, "flagfile")
        if used and not value:
            raise UsageError("--flagfile needs a path, e.g. --flagfile=my.flags")
        if used and not os.path.isfile(os.path.expanduser(value)):
            what = "is a directory" if os.path.isdir(value) else "not found"
            raise UsageError(f"--flagfile {value}: file {what} (packaged recipes: --recipe NAME, see `tfzoo recipes`)")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tfzoo`` console script."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:
        print(usage(), file=sys.stderr)
        sys.exit(2)
    if argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0)
    verb = argv[1]
    if verb not in VERBS:
        fail(f"unknown verb {verb!r}; choose one of {', '.join(VERBS)} (`tfzoo --help` describes them)")
    prog = f"tfzoo {verb}"
    from tfzoo.errors import TrainingDiverged, UsageError

    try:
        args = expand_recipe(verb, argv[2:])
        check_flagfiles(args)
    except UsageError as error:
        fail(str(error), prog)
    from absl import app, flags

    module = importlib.import_module(VERBS[verb][0])
    _list_verb_flags_in_help(flags.FLAGS)
    # absl's --help prints the __main__ module's docstring: show the verb's.
    sys.modules["__main__"].__doc__ = module.__doc__

    def parse(args):
        try:
            remaining = flags.FLAGS(args)
        except flags.Error as error:
            fail(f"{str(error).replace('ERROR::', '').strip()} (see `{prog} --help`)", prog)
        _keep_absl_at_warning()
        return remaining

    def run(args):
        try:
            if not getattr(module, "LOADS_TENSORFLOW_ITSELF", False):
                load_tensorflow()
            return module.main(args[1:])
        except UsageError as error:
            fail(str(error), prog)
        except TrainingDiverged as error:
            fail(str(error), prog, code=1)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`tfzoo list | head`): stop quietly, as Unix tools do. Point stdout at
            # /dev/null so the interpreter's final flush does not raise again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)  # 128 + SIGPIPE

    try:
        app.run(run, argv=[prog] + args, flags_parser=parse)
    except SystemExit as exit_:
        # absl's --help / --helpfull / --helpshort exit with status 1; asking for help is no error.
        if exit_.code == 1 and any(arg.split("=")[0].lstrip("-") in _HELP_FLAGS for arg in args):
            sys.exit(0)
        raise


_HELP_FLAGS = ("help", "helpfull", "helpshort", "helpxml", "h", "?")


if __name__ == "__main__":
    main()
