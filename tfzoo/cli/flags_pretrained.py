"""The ``--pretrained`` flag of train, predict and export: bare for the default tag, ``=TAG|PATH`` for another.

``--pretrained`` alone loads the model's default pretrained tag;
``--pretrained=a1_in1k`` (or ``resnet50.a1_in1k``), ``--pretrained=hf-hub:ORG/REPO`` and
``--pretrained=/path/model.safetensors`` pick other weights (see
`tfzoo.convert.pretrained`); ``--nopretrained`` is the default. The value
needs the ``=``: like a boolean flag, a bare ``--pretrained`` never takes the
next argument (``tfzoo predict --model resnet50 --pretrained image.jpg``).
"""

from __future__ import annotations

from absl import flags

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n", "")


class _PretrainedParser(flags.ArgumentParser):
    def parse(self, argument):
        if argument is None or isinstance(argument, bool):
            return argument or None
        text = str(argument).strip()
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return None
        return text

    def flag_type(self):
        return "bool or string"


class _PretrainedSerializer(flags.ArgumentSerializer):
    def serialize(self, value):
        return "true" if value is True else ("" if value is None else str(value))


def define_pretrained_flag() -> None:
    """Defines ``--pretrained`` (None, True or a tag / hf-hub:ORG/REPO / path)."""
    if "pretrained" in flags.FLAGS:
        return
    flags.DEFINE_flag(flags.Flag(
        _PretrainedParser(), _PretrainedSerializer(), "pretrained", None,
        "Start from timm's published weights: --pretrained for the model's default tag, "
        "--pretrained=TAG (e.g. a1_in1k), --pretrained=hf-hub:ORG/REPO or --pretrained=/path/model.safetensors.",
        boolean=True))


def pretrained_value():
    """The flag's value: None (not given), True (default tag) or a string."""
    return flags.FLAGS.pretrained


def define_pretrained_model_flags() -> None:
    """``--model`` and ``--pretrained`` for verbs that can start from published weights (predict, export)."""
    if "model" not in flags.FLAGS:
        flags.DEFINE_string("model", None, "Registered model name or alias; with --pretrained, one that has "
                            "published weights (`tfzoo list --pretrained`).")
    define_pretrained_flag()


def pretrained_model_args() -> tuple[str, object] | None:
    """``(model, pretrained)`` when --pretrained was given (a UsageError without --model), else None."""
    from tfzoo.errors import UsageError

    value = flags.FLAGS.pretrained
    if value is None:
        return None
    if not flags.FLAGS.model:
        raise UsageError("--pretrained needs --model NAME (e.g. --model resnet50 --pretrained)")
    return flags.FLAGS.model, value
