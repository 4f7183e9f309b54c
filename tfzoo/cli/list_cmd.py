"""`tfzoo list [PATTERN]`: a table of registered models.

It reads the shipped catalog (`tfzoo.catalog`), so it never imports
TensorFlow and answers in well under 2 s (``LOADS_TENSORFLOW_ITSELF`` tells
``main.py`` not to load it for this verb).
"""

from absl import flags

LOADS_TENSORFLOW_ITSELF = True  # it never needs TensorFlow

flags.DEFINE_boolean("aliases", False, "Also list alias names.")
flags.DEFINE_boolean("pretrained", False, "Only models with published pretrained weights, with their default tag.")
FLAGS = flags.FLAGS

COLUMNS = ("name", "params", "input", "family")


def rows(pattern: str = "*", include_aliases: bool = False, pretrained: bool = False) -> list[tuple]:
    """The table rows (header first) for the models matching `pattern`, in natural order.

    With `pretrained`, only the models with published weights, and a column with their default tag.
    """
    from tfzoo import catalog
    from tfzoo.errors import UsageError

    names = catalog.list_models(pattern, include_aliases=include_aliases)
    if not names:
        raise UsageError(f"no model matches {pattern!r}; run `tfzoo list` to see all")
    table = [COLUMNS + (("default pretrained tag",) if pretrained else ())]
    for name in names:
        info = catalog.model_info(name)
        tags = info.get("pretrained_tags") or []
        if pretrained and not tags:
            continue
        params = f"{info['num_params'] / 1e6:.2f}M" if info["num_params"] else "-"
        table.append((name, params, str(info["input_size"]), info["family"]) + ((tags[0],) if pretrained else ()))
    if len(table) == 1:
        raise UsageError(f"no model with pretrained weights matches {pattern!r}; run `tfzoo list --pretrained`")
    return table


def main(args):
    from tfzoo.errors import UsageError

    if len(args) > 1:
        raise UsageError("list takes at most one pattern, e.g. tfzoo list 'mobilenet*'")
    table = rows(args[0] if args else "*", include_aliases=FLAGS.aliases, pretrained=FLAGS.pretrained)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
