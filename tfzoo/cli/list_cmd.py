"""`tfzoo list [PATTERN]`: a table of registered models."""

from absl import flags

flags.DEFINE_boolean("aliases", False, "Also list alias names.")
flags.DEFINE_boolean("pretrained", False, "Only models with published pretrained weights, with their default tag.")
FLAGS = flags.FLAGS


def main(args):
    from tfzoo.errors import UsageError
    from tfzoo.models.registry import list_models, model_info

    if len(args) > 1:
        raise UsageError("list takes at most one pattern, e.g. tfzoo list 'mobilenet*'")
    pattern = args[0] if args else "*"
    names = list_models(pattern, include_aliases=FLAGS.aliases, pretrained=FLAGS.pretrained)
    if not names:
        raise UsageError(f"no model matches {pattern!r}; run `tfzoo list` to see all")
    rows = [("name", "params", "input", "family")]
    for name in names:
        info = model_info(name)
        params = f"{info['num_params'] / 1e6:.2f}M" if info["num_params"] else "-"
        rows.append((name, params, str(info["input_size"]), info["family"]))
        if FLAGS.pretrained:  # issue 11
            rows[-1] += (info["pretrained_tags"][0],)
    if FLAGS.pretrained:
        rows[0] += ("default pretrained tag",)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
