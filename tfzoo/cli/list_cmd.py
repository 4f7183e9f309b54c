"""`tfzoo list [PATTERN]`: a table of registered models."""

from absl import flags

flags.DEFINE_boolean("aliases", False, "Also list alias names.")
FLAGS = flags.FLAGS


def main(args):
    from tfzoo.errors import UsageError
    from tfzoo.models.registry import list_models, model_info

    if len(args) > 1:
        raise UsageError("list takes at most one pattern, e.g. tfzoo list 'mobilenet*'")
    pattern = args[0] if args else "*"
    names = list_models(pattern, include_aliases=FLAGS.aliases)
    if not names:
        raise UsageError(f"no model matches {pattern!r}; run `tfzoo list` to see all")
    rows = [("name", "params", "input", "family")]
    for name in names:
        info = model_info(name)
        params = f"{info['num_params'] / 1e6:.2f}M" if info["num_params"] else "-"
        rows.append((name, params, str(info["input_size"]), info["family"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
