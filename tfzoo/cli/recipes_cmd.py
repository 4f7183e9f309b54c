"""`tfzoo recipes`: the training recipes shipped with the package (`tfzoo train --recipe NAME`)."""

from absl import flags

flags.DEFINE_boolean("paths", False, "Also print each recipe's flag-file path.")
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True  # it never needs it


def main(args):
    from tfzoo.errors import UsageError
    from tfzoo.recipes import describe, list_recipes, recipe_path

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; recipes takes no arguments")
    names = list_recipes()
    width = max(len(name) for name in names)
    for name in names:
        line = f"{name:<{width}}  {describe(name)}"
        print(f"{line}\n{'':<{width}}  {recipe_path(name)}" if FLAGS.paths else line)
    print("\nUse: tfzoo train --recipe NAME [flags that override it]")
