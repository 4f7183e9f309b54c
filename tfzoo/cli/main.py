"""`tfzoo` command line: ``tfzoo VERB [flags]``.

Each verb lives in its own module with absl flags (``--flagfile`` and
``--helpfull`` work as usual). A user mistake (`UsageError`, a bad flag)
prints one line on stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

VERBS = {
    "list": ("tfzoo.cli.list_cmd", "list registered models: tfzoo list [PATTERN]"),
    "train": ("tfzoo.cli.train", "train or resume a model: tfzoo train --model mobilenet_v3"),
    "eval": ("tfzoo.cli.eval", "evaluate a run: tfzoo eval --run_dir RUN"),
    "export": ("tfzoo.cli.export", "write a TF Serving SavedModel: tfzoo export --run_dir RUN --output DIR"),
    "predict": ("tfzoo.cli.predict", "top-5 classes of images: tfzoo predict --source RUN_OR_EXPORT IMAGE..."),
    "benchmark": ("tfzoo.cli.benchmark", "params, FLOPs and images/s: tfzoo benchmark --model NAME"),
    "relabel": ("tfzoo.cli.relabel", "dense label maps for token labeling: tfzoo relabel --annotator RUN --output DIR"),
}


def usage() -> str:
    lines = ["usage: tfzoo VERB [flags]   (tfzoo VERB --help for a verb's flags)", "", "verbs:"]
    lines += [f"  {verb:<10} {text}" for verb, (_, text) in VERBS.items()]
    return "\n".join(lines)


def fail(message: str, prog: str = "tfzoo") -> None:
    """Prints one line on stderr and exits with code 2."""
    message = " ".join(str(message).split())
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow without its C++ start-up chatter on stderr.

    TensorFlow 2.21 logs oneDNN and CUDA probing lines while it loads, before
    its logging honours TF_CPP_MIN_LOG_LEVEL, and they would bury a one-line
    error. Unless the user set TF_CPP_MIN_LOG_LEVEL (e.g. 0 to debug), the
    import runs with stderr captured; the capture is replayed if it fails.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import tensorflow  # noqa: F401
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    tensorflow.get_logger().setLevel("ERROR")


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


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tfzoo`` console script."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    verb = argv[1]
    if verb not in VERBS:
        fail(f"unknown verb {verb!r}; choose one of {', '.join(VERBS)}")
    _import_tensorflow_quietly()
    from absl import app, flags

    from tfzoo.errors import UsageError

    module = importlib.import_module(VERBS[verb][0])
    _list_verb_flags_in_help(flags.FLAGS)
    prog = f"tfzoo {verb}"

    def parse(args):
        try:
            remaining = flags.FLAGS(args)
        except flags.Error as error:
            fail(f"{error} (see `{prog} --help`)", prog)
        _keep_absl_at_warning()
        return remaining

    def run(args):
        try:
            return module.main(args[1:])
        except UsageError as error:
            fail(str(error), prog)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            sys.exit(130)

    app.run(run, argv=[prog] + argv[2:], flags_parser=parse)


if __name__ == "__main__":
    main()
