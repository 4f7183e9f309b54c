"""Pretrained weights: timm's published checkpoints, fetched, converted and loaded with NumPy and Keras only.

timm publishes its ImageNet weights on the Hugging Face Hub as
``timm/<timm name>.<tag>`` repositories holding ``model.safetensors`` (the
PyTorch state dict) and ``config.json`` (the class count and the evaluation
preprocessing). ``tfzoo.create_model(name, pretrained=...)`` comes here:

- ``True``: the default tag of the name (`TIMM_WEIGHTS`, first tag);
- ``"<name>.<tag>"`` or ``"<tag>"``: another of its tags (the registry name,
  an alias or timm's name may stand before the dot);
- ``"hf-hub:ORG/REPO"``: any Hub repository in timm's layout;
- a path: a local ``.safetensors`` file (a ``config.json`` beside it is read
  when present), or a folder holding ``model.safetensors``.

Downloads go through ``huggingface_hub``, which caches under ``HF_HOME`` and
honours ``HF_HUB_OFFLINE=1``; a failed download is one `UsageError` line that
says how to work offline. Only safetensors are read: a pickle-format file
(``.pth``, ``.pt``, ``.bin``, a zip made by ``torch.save``) is refused, since
unpickling can run arbitrary code.

The state dict is loaded by `tfzoo.convert.load_timm_state_dict`, strictly,
with a per-family adapter (`FAMILIES`) for what the layer names alone do not
say: the classifier's module, modules tfzoo has no counterpart for
(Inception's auxiliary head), a name map (timm's ``byobnet`` RepVGG) and
builder options (NF models use timm's weight-standardization epsilon). A
classifier of another width than the checkpoint's (``num_classes``) is left
freshly initialized, with one log line, as timm does; ``include_top=False``
and ``features_only=True`` load the backbone.

The checkpoint's preprocessing (mean, std, crop fraction, interpolation,
input size, class count) is recorded in ``model.zoo_info["pretrained_cfg"]``,
which travels with the model's config (``.keras`` files, run directories,
exports); `preprocess_overrides` turns it into `PreprocessConfig` fields.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import struct
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from tfzoo.convert.timm_weights import CONVERT_HINT, NO_TIMM_WEIGHTS, TIMM_WEIGHTS, TimmWeights
from tfzoo.errors import UsageError

__all__ = ["FAMILIES", "NO_TIMM_WEIGHTS", "TIMM_WEIGHTS", "FamilyAdapter", "TimmWeights", "create_pretrained",
           "default_pretrained", "imagenet_class_names", "load_timm_checkpoint", "preprocess_overrides",
           "pretrained_tags", "read_safetensors", "resolve_pretrained"]

logger = logging.getLogger("tfzoo")

HUB_WEIGHTS = "model.safetensors"
HUB_CONFIG = "config.json"
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".tar")
# ---- per-family adapters --------------------------------------------------------------------------------------

_REPVGG_BRANCHES = {"rbr_dense_conv": "conv_kxk.conv", "rbr_dense_bn": "conv_kxk.bn",
                    "rbr_1x1_conv": "conv_1x1.conv", "rbr_1x1_bn": "conv_1x1.bn",
                    "rbr_identity": "identity", "rbr_reparam": "reparam_conv"}
_REPVGG_LAYER = re.compile(r"stage(\d+)(?:_(\d+))?_(" + "|".join(_REPVGG_BRANCHES) + ")")


def repvgg_module_path(layer_name: str) -> str | None:
    """tfzoo RepVGG layer (the official repository's names) -> timm ``byobnet`` module path.

    ``stage0_rbr_dense_conv`` -> ``stem.conv_kxk.conv``;
    ``stage2_3_rbr_1x1_bn`` -> ``stages.1.3.conv_1x1.bn``;
    ``stage1_1_rbr_identity`` -> ``stages.0.1.identity``; ``linear`` -> ``head.fc``.
    """
    if layer_name == "linear":
        return "head.fc"
    match = _REPVGG_LAYER.fullmatch(layer_name)
    if match is None:
        return None
    stage, block, branch = match.groups()
    if stage == "0" and block is None:
        prefix = "stem"
    elif block is not None and stage != "0":
        prefix = f"stages.{int(stage) - 1}.{block}"
    else:
        return None
    return f"{prefix}.{_REPVGG_BRANCHES[branch]}"


class FamilyAdapter(NamedTuple):
    """What loading a timm checkpoint into a family needs beyond the layer names.

    Attributes:
        classifier: timm module path(s) of the classifier (timm's ``pretrained_cfg["classifier"]``).
        head_modules: More modules used only with the head (left out for ``include_top=False``).
        ignored_modules: Checkpoint modules tfzoo has no counterpart for.
        module_path: Layer name -> timm module path, for names that do not mirror timm's.
        builder_overrides: Builder options a timm checkpoint needs (they are recorded in the config).
    """

    classifier: tuple = ("fc",)
    head_modules: tuple = ()
    ignored_modules: tuple = ()
    module_path: Callable[[str], str | None] | None = None
    builder_overrides: Mapping[str, Any] = {}


FAMILIES: dict[str, FamilyAdapter] = {
    "resnet": FamilyAdapter(classifier=("fc",)),
    "resnext": FamilyAdapter(classifier=("fc",)),
    "seresnext": FamilyAdapter(classifier=("fc",)),
    "densenet": FamilyAdapter(classifier=("classifier",)),
    "efficientnet": FamilyAdapter(classifier=("classifier",)),
    "mobilenet_v1": FamilyAdapter(classifier=("classifier",)),
    "mobilenet_v2": FamilyAdapter(classifier=("classifier",)),
    "mobilenet_v3": FamilyAdapter(classifier=("classifier",)),
    # Only the torchvision weights (tv_in1k) carry the auxiliary classifier; tfzoo builds none.
    "inception_v3": FamilyAdapter(classifier=("fc",), ignored_modules=("AuxLogits",)),
    "xception": FamilyAdapter(classifier=("fc",)),
    "regnet": FamilyAdapter(classifier=("head.fc",)),
    # timm's ScaledStdConv2d: epsilon 1e-5 inside the square root (tfzoo.layers.ws_conv).
    "nfnet": FamilyAdapter(classifier=("head.fc",), builder_overrides={"std_conv_eps": 1e-5}),
    "vgg": FamilyAdapter(classifier=("head.fc",), head_modules=("pre_logits",)),
    "repvgg": FamilyAdapter(classifier=("head.fc",), module_path=repvgg_module_path),
}
# Families added later without a row: timm's usual classifier names.
DEFAULT_ADAPTER = FamilyAdapter(classifier=("head", "fc", "classifier", "head_dist"))


def family_adapter(family: str) -> FamilyAdapter:
    return FAMILIES.get(family, DEFAULT_ADAPTER)


# ---- resolving ------------------------------------------------------------------------------------------------

def pretrained_tags(name: str) -> tuple:
    """``("<timm name>.<tag>", ...)`` published for a registered name, default first (empty when none)."""
    from tfzoo.models.registry import get_spec

    source = TIMM_WEIGHTS.get(get_spec(name).name)
    return tuple(f"{source.timm_name}.{tag}" for tag in source.tags) if source else ()


def default_pretrained(name: str) -> str | None:
    """The Hub repository ``pretrained=True`` loads, e.g. ``timm/resnet50.a1_in1k``; None when there is none."""
    tags = pretrained_tags(name)
    return f"timm/{tags[0]}" if tags else None


class Resolved(NamedTuple):
    """Where a ``pretrained`` argument points: a Hub repository or a local file."""

    repo_id: str | None = None
    path: str | None = None

    @property
    def label(self) -> str:
        return f"hf-hub:{self.repo_id}" if self.repo_id else os.path.abspath(self.path)


def _looks_like_path(value: str) -> bool:
    return (os.sep in value or "/" in value or value.endswith((".safetensors",) + PICKLE_SUFFIXES)
            or os.path.exists(value))


def resolve_pretrained(name: str, pretrained: Any) -> Resolved:
    """Turns a ``pretrained`` argument into a Hub repository or a local path (see the module docstring).

    Raises:
        UsageError: for a name without published weights, an unknown tag or a malformed value.
    """
    from tfzoo.models.registry import get_spec

    spec = get_spec(name)
    source = TIMM_WEIGHTS.get(spec.name)
    if pretrained is True:
        if source is None or not source.tags:
            why = NO_TIMM_WEIGHTS.get(spec.name, f"no published timm weights are known for {spec.name}")
            raise UsageError(f"{spec.name} has no pretrained tag: {why}")
        return Resolved(repo_id=f"timm/{source.timm_name}.{source.tags[0]}")
    if not isinstance(pretrained, str) or not pretrained:
        raise UsageError(f"pretrained must be True, a tag, 'hf-hub:ORG/REPO' or a .safetensors path, "
                         f"got {pretrained!r}")
    if pretrained.startswith("hf-hub:"):
        repo = pretrained[len("hf-hub:"):]
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise UsageError(f"{pretrained!r} is not a Hub repository; write hf-hub:ORG/REPO, "
                             "e.g. hf-hub:timm/resnet50.a1_in1k")
        return Resolved(repo_id=repo)
    if _looks_like_path(pretrained):
        path = os.path.expanduser(pretrained)
        if os.path.isdir(path):
            path = os.path.join(path, HUB_WEIGHTS)
        if not os.path.isfile(path):
            raise UsageError(f"no checkpoint file {pretrained!r}")
        return Resolved(path=path)
    base, _, tag = pretrained.rpartition(".")
    names = {spec.name, *spec.aliases} | ({source.timm_name} if source else set())
    if base and base not in names:
        raise UsageError(f"pretrained tag {pretrained!r} names another model than {spec.name}; "
                         f"write {spec.name}.TAG or just TAG")
    tags = source.tags if source else ()
    if tag not in tags:
        known = f"its tags: {', '.join(tags)}" if tags else NO_TIMM_WEIGHTS.get(spec.name, "it has none")
        raise UsageError(f"unknown pretrained tag {tag!r} for {spec.name} ({known}); another timm repository "
                         "loads with pretrained='hf-hub:ORG/REPO'")
    return Resolved(repo_id=f"timm/{source.timm_name}.{tag}")


# ---- fetching -------------------------------------------------------------------------------------------------

def _offline_hint(repo_id: str, reason: str) -> str:
    return (f"cannot get {repo_id} ({HUB_WEIGHTS}) from the Hugging Face Hub: {reason}. To work offline, "
            f"download it once where there is network (hf download {repo_id} {HUB_WEIGHTS} {HUB_CONFIG}), "
            "copy that HF_HOME cache here and set HF_HUB_OFFLINE=1, or pass a local file: "
            "pretrained=/path/model.safetensors (tfzoo convert writes a .keras file)")


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200] + ("..." if len(text) > 200 else "")


def fetch_from_hub(repo_id: str) -> tuple[str, dict | None]:
    """Downloads (or finds in the Hub cache) a repository's ``model.safetensors`` and ``config.json``.

    Returns:
        ``(path of model.safetensors, parsed config.json or None)``.

    Raises:
        UsageError: one line for every failure (missing client, no such
            repository or file, no network and no cached copy).
    """
    try:
        from huggingface_hub import constants, errors, hf_hub_download
    except ImportError:
        raise UsageError("pretrained weights from the Hub need huggingface_hub: pip install huggingface_hub "
                         "safetensors") from None
    local_missing = errors.LocalEntryNotFoundError
    remote_missing = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)
    try:
        with _quiet_hub_client():  # its retry warnings would bury the one-line error
            weights = hf_hub_download(repo_id, HUB_WEIGHTS)
    except local_missing:
        if constants.HF_HUB_OFFLINE:
            reason = f"HF_HUB_OFFLINE is set and it is not in the cache ({constants.HF_HUB_CACHE})"
        else:
            reason = "the Hub is unreachable and it is not in the cache"
        raise UsageError(_offline_hint(repo_id, reason)) from None
    except errors.RepositoryNotFoundError:
        raise UsageError(f"no Hub repository {repo_id} (or it needs a login); model_info(NAME)['pretrained_tags'] "
                         "lists timm's tags") from None
    except remote_missing:
        raise UsageError(f"{repo_id} has no {HUB_WEIGHTS}; tfzoo reads only safetensors (never pickles): "
                         + CONVERT_HINT) from None
    except (OSError, ValueError) as error:  # HTTP errors, timeouts, proxies ...
        raise UsageError(_offline_hint(repo_id, _short(error))) from None
    try:
        with _quiet_hub_client():
            config_path = hf_hub_download(repo_id, HUB_CONFIG)
    except (OSError, ValueError, errors.EntryNotFoundError):
        return weights, None
    return weights, _read_config(config_path)


@contextlib.contextmanager
def _quiet_hub_client():
    """Raises the huggingface_hub logger to ERROR for the duration (it warns on each retried request)."""
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_logger.setLevel(level)


def _read_config(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


# ---- reading --------------------------------------------------------------------------------------------------

def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Reads a ``.safetensors`` state dict as NumPy arrays; pickle formats are refused, never opened.

    Raises:
        UsageError: for a pickle-format checkpoint (by name or by content) or an unreadable file.
    """
    if path.lower().endswith(PICKLE_SUFFIXES):
        raise UsageError(f"{path} is a PyTorch pickle checkpoint; tfzoo reads only .safetensors files and never "
                         "unpickles (it can run code): " + CONVERT_HINT)
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {_short(error)}") from None
    if head[:2] == b"PK" or head[:1] == b"\x80":  # torch.save's zip archive, or a raw pickle stream
        raise UsageError(f"{path} holds a PyTorch pickle (torch.save), not safetensors; tfzoo never unpickles: "
                         + CONVERT_HINT)
    if len(head) < 9 or head[8:9] != b"{":
        raise UsageError(f"{path} is not a safetensors file")
    from safetensors.numpy import load_file

    try:  # with ml_dtypes loaded (TensorFlow imports it) NumPy knows bfloat16; widen it as the fallback does
        return {key: value.astype(np.float32) if value.dtype.name == "bfloat16" else value
                for key, value in load_file(path).items()}
    except TypeError as error:
        if "bfloat16" not in str(error):
            raise UsageError(f"cannot read {path} as safetensors: {_short(error)}") from None
    except Exception as error:  # noqa: BLE001 - a corrupt or unsupported file is the user's to fix
        raise UsageError(f"cannot read {path} as safetensors: {_short(error)}") from None
    return _read_with_bfloat16(path)


def _read_with_bfloat16(path: str) -> dict[str, np.ndarray]:
    """NumPy has no bfloat16: reads a safetensors file whose BF16 tensors become float32 (exactly).

    The format is an 8-byte little-endian header length, a JSON header
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` and the raw
    little-endian data; a bfloat16 is the upper half of a float32.
    """
    dtypes = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U8": "u1", "BOOL": "?"}
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
            data = handle.read()
        out = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            raw = data[begin:end]
            if entry["dtype"] == "BF16":
                value = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                value = np.frombuffer(raw, dtypes[entry["dtype"]])
            out[name] = value.reshape(entry["shape"]).copy()
        return out
    except (KeyError, ValueError, struct.error) as error:
        raise UsageError(f"cannot read {path} as safetensors: {_short(error)}") from None


# ---- loading --------------------------------------------------------------------------------------------------

def _problem_summary(message: str, limit: int = 12) -> str:
    """The loader's multi-line report as one line: each kind with the first keys by name."""
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()]
    parts, current = [], None
    for line in lines:
        if line.endswith(":") and "(" in line:
            current = [line.rstrip(":"), []]
            parts.append(current)
        elif current is not None and len(current[1]) < limit:
            current[1].append(line.split(" (for ")[0])
    return "; ".join(f"{kind}: {', '.join(items)}" for kind, items in parts)


def load_timm_checkpoint(model, state_dict: Mapping[str, np.ndarray], *, family: str | None = None,
                         strict: bool = True, fresh_classifier: bool = False,
                         classifier: tuple | None = None) -> None:
    """Loads a timm state dict into a tfzoo model with its family's adapter (`FAMILIES`).

    Args:
        model: A tfzoo model (its ``zoo_info`` names the family unless `family` is given).
        state_dict: ``{timm key: array}``.
        family: Registry family; default: ``model.zoo_info["family"]``.
        strict: Every model weight and checkpoint entry must pair up (the
            classifier aside with `fresh_classifier`).
        fresh_classifier: Leave the classifier (and, for a headless model,
            the head) as it is, and do not use the checkpoint's.
        classifier: The classifier module(s); default: the family's.

    Raises:
        UsageError: when the checkpoint does not fit, naming the missing and unexpected keys.
    """
    from tfzoo.convert.timm import load_timm_state_dict

    family = family or dict(getattr(model, "zoo_info", None) or {}).get("family", "")
    adapter = family_adapter(family)
    skip = tuple(adapter.ignored_modules)
    if fresh_classifier:
        skip += tuple(classifier or adapter.classifier)
        if not _has_head(model):
            skip += tuple(adapter.head_modules)
    try:
        load_timm_state_dict(model, state_dict, strict=strict, module_path=adapter.module_path, skip_modules=skip)
    except ValueError as error:
        raise UsageError(f"the checkpoint does not fit {model.name}: {_problem_summary(str(error))}") from None


def _has_head(model) -> bool:
    try:
        model.get_layer("predictions")
    except ValueError:
        return False
    return True


def _classifier_modules(config: dict | None, adapter: FamilyAdapter) -> tuple:
    declared = ((config or {}).get("pretrained_cfg") or {}).get("classifier")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, (list, tuple)) and declared:
        return tuple(declared)
    return tuple(adapter.classifier)


def _checkpoint_classes(state_dict, classifier: tuple, config: dict | None) -> int | None:
    for module in classifier:
        weight = state_dict.get(f"{module}.weight")
        if weight is not None and np.ndim(weight) >= 2:
            return int(np.shape(weight)[0])
    if config and isinstance(config.get("num_classes"), int):
        return config["num_classes"]
    return None


def _pretrained_cfg(config: dict | None, resolved: Resolved, num_classes: int | None) -> dict:
    """The preprocessing and provenance recorded in ``zoo_info["pretrained_cfg"]`` (JSON-able)."""
    source = ((config or {}).get("pretrained_cfg") or {})
    cfg: dict[str, Any] = {"source": resolved.label}
    if source.get("tag"):
        cfg["tag"] = source["tag"]
    for key in ("mean", "std"):
        value = source.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 3:
            cfg[key] = [float(v) for v in value]
    if isinstance(source.get("crop_pct"), (int, float)):
        cfg["crop_pct"] = float(source["crop_pct"])
    if source.get("interpolation") in ("bilinear", "bicubic", "nearest", "area", "lanczos3"):
        cfg["interpolation"] = source["interpolation"]
    for key in ("input_size", "test_input_size"):
        value = source.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 3:
            cfg[key] = int(value[1])
    if num_classes is not None:
        cfg["num_classes"] = int(num_classes)
    labels = (config or {}).get("label_names")
    if isinstance(labels, list) and num_classes and len(labels) == num_classes:
        cfg["label_names"] = [str(label) for label in labels]
    return cfg


def preprocess_overrides(zoo_info: Mapping | None) -> dict:
    """`PreprocessConfig` fields a pretrained model's checkpoint sets: mean, std, crop_pct, interpolation."""
    cfg = dict((zoo_info or {}).get("pretrained_cfg") or {})
    out = {key: cfg[key] for key in ("crop_pct", "interpolation") if key in cfg}
    out.update({key: tuple(cfg[key]) for key in ("mean", "std") if key in cfg})
    if out.get("interpolation") not in (None, "bilinear", "bicubic"):
        out.pop("interpolation")
    return out


def checkpoint_preprocess(name: str, pretrained: Any) -> dict:
    """`PreprocessConfig` fields from the checkpoint ``pretrained`` points at (fetching it if needed).

    For code that sets up its input pipeline before it builds the model (`tfzoo.training.train`).
    """
    resolved = resolve_pretrained(name, pretrained)
    config = fetch_from_hub(resolved.repo_id)[1] if resolved.repo_id else _local_config(resolved.path)
    return preprocess_overrides({"pretrained_cfg": _pretrained_cfg(config, resolved, None)})


def _local_config(path: str) -> dict | None:
    candidate = os.path.join(os.path.dirname(os.path.abspath(path)), HUB_CONFIG)
    return _read_config(candidate) if os.path.isfile(candidate) else None


def create_pretrained(name: str, pretrained: Any, *, num_classes: int | None = None, input_shape=None,
                      include_top: bool = True, pooling: str | None = None, features_only: bool = False,
                      strict: bool = True, **overrides):
    """`tfzoo.create_model` with ``pretrained=...``: resolve, fetch, build and load (see the module docstring).

    Args:
        name: Registered name or alias.
        pretrained: ``True``, a tag, ``"hf-hub:ORG/REPO"`` or a path.
        num_classes: Classifier width; None takes the checkpoint's. Another
            width leaves the classifier freshly initialized.
        input_shape: Default: the checkpoint's input size.
        include_top, pooling, features_only: As `tfzoo.create_model`.
        strict: Require every weight and checkpoint entry to pair up.
        **overrides: Builder options (the family's `FamilyAdapter.builder_overrides` are added).
    """
    from tfzoo.models.registry import create_model, get_spec

    spec = get_spec(name)
    if overrides.get("weights") is not None:
        raise UsageError("pass either weights= (a .keras / .weights.h5 file) or pretrained=, not both")
    overrides.pop("weights", None)
    if spec.family == "lvvit":  # no timm twin: the official TokenLabeling checkpoint, saved as safetensors
        return _create_lvvit(spec, pretrained, num_classes=num_classes, input_shape=input_shape,
                             include_top=include_top, pooling=pooling, features_only=features_only, **overrides)
    resolved = resolve_pretrained(spec.name, pretrained)
    if resolved.repo_id:
        path, config = fetch_from_hub(resolved.repo_id)
    else:
        path, config = resolved.path, _local_config(resolved.path)
    state_dict = read_safetensors(path)
    adapter = family_adapter(spec.family)
    classifier = _classifier_modules(config, adapter)
    checkpoint_classes = _checkpoint_classes(state_dict, classifier, config)
    if num_classes is None:
        num_classes = checkpoint_classes or 1000
    cfg = _pretrained_cfg(config, resolved, checkpoint_classes)
    if input_shape is None and "input_size" in cfg:
        input_shape = (cfg["input_size"], cfg["input_size"], 3)
    builder_args = {**adapter.builder_overrides, **overrides}
    model = create_model(spec.name, num_classes=num_classes, input_shape=input_shape, include_top=include_top,
                         pooling=pooling, features_only=features_only, **builder_args)
    headless = features_only or not include_top
    fresh = headless or checkpoint_classes is None or num_classes != checkpoint_classes
    load_timm_checkpoint(model, state_dict, family=spec.family, strict=strict, fresh_classifier=fresh,
                         classifier=classifier)
    if fresh and not headless:
        logger.warning("%s: loaded %s except the classifier (%s): the checkpoint has %s classes, the model %d; "
                       "it is freshly initialized", spec.name, resolved.label, ", ".join(classifier),
                       checkpoint_classes, num_classes)
    if headless or fresh:
        cfg.pop("label_names", None)
    info = dict(model.zoo_info)
    info["pretrained"] = resolved.label
    info["pretrained_cfg"] = cfg
    model.zoo_info = info
    return model


def _create_lvvit(spec, pretrained, *, num_classes, **kwargs):
    """LV-ViT from an official checkpoint file (`tfzoo.models.lvvit.load_official_checkpoint`)."""
    from tfzoo.models.lvvit import load_official_checkpoint
    from tfzoo.models.registry import create_model

    path = os.fspath(pretrained) if isinstance(pretrained, (str, os.PathLike)) else ""
    if not path.endswith(".safetensors"):
        raise UsageError(f"{spec.name} has no timm weights: pass pretrained=PATH, the official TokenLabeling "
                         "checkpoint saved as .safetensors (see tfzoo.models.lvvit.load_official_checkpoint)")
    model = load_official_checkpoint(create_model(spec.name, num_classes=num_classes or 1000, **kwargs), path)
    model.zoo_info = {**model.zoo_info, "pretrained": path}
    return model


# ---- class names ----------------------------------------------------------------------------------------------

def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names (first lemma of each WordNet synset), in logit order."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                        "imagenet_classes.tsv")
    names = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            names.append(line.rstrip("\n").split("\t", 1)[1].split(",")[0].strip())
    return names


def class_names_for(model) -> list[str] | None:
    """Class names of a pretrained model's outputs: the checkpoint's, or ImageNet-1k's for 1000 classes."""
    info = dict(getattr(model, "zoo_info", None) or {})
    cfg = dict(info.get("pretrained_cfg") or {})
    if cfg.get("label_names"):
        return list(cfg["label_names"])
    num_classes = (info.get("builder_args") or {}).get("num_classes")
    if cfg and num_classes == 1000 and cfg.get("num_classes") == 1000:
        return imagenet_class_names()
    return None
