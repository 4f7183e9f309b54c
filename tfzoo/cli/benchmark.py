"""`tfzoo benchmark --model NAME`: parameters, FLOPs and inference images/s.

``--fused`` times the inference form that `tfzoo export` writes by default
(RepVGG re-parameterized, conv -> BatchNorm pairs folded).
"""

import json
import sys

from absl import flags

from tfzoo.cli.flags import define_onednn_flag

flags.DEFINE_string("model", "mobilenet_v3_large", "Registered model name.")
flags.DEFINE_integer("batch_size", 32, "Batch size for the throughput measurement.")
flags.DEFINE_integer("image_size", None, "Resolution (default: the model's).")
flags.DEFINE_integer("num_classes", 1000, "Classifier width.")
flags.DEFINE_integer("iterations", 10, "Timed batches per repeat.")
flags.DEFINE_boolean("xla", False, "Compile the forward pass with XLA.")
flags.DEFINE_boolean("fused", False, "Time the exported inference form: RepVGG re-parameterized and every "
                     "conv -> BatchNorm pair folded, as `tfzoo export` writes it.")
flags.DEFINE_boolean("json", False, "Print JSON instead of a table.")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "bfloat16: time the bfloat16 inference form "
                  "of `tfzoo export --precision bfloat16` (implies --fused: folded first, then bfloat16 weights).")
define_onednn_flag()
FLAGS = flags.FLAGS
LOADS_TENSORFLOW_ITSELF = True


def main(args):
    from tfzoo.cli._runtime import load_tensorflow
    from tfzoo.errors import UsageError
    from tfzoo.training.config import check_image_size

    if args:
        raise UsageError(f"unexpected arguments {' '.join(args)}; benchmark takes flags only")
    for key in ("batch_size", "iterations", "num_classes", "image_size"):
        if FLAGS[key].value is not None and FLAGS[key].value < 1:
            raise UsageError(f"--{key} must be a positive integer, got {FLAGS[key].value}")
    check_image_size(FLAGS.image_size, batch_size=FLAGS.batch_size)
    load_tensorflow()
    from tfzoo.models.registry import create_model, get_spec
    from tfzoo.training.benchmark import count_flops, count_params, time_inference

    spec = get_spec(FLAGS.model)
    check_image_size(FLAGS.image_size, batch_size=FLAGS.batch_size, model=spec.name, input_size=spec.input_size)
    size = FLAGS.image_size or spec.input_size
    if size < spec.min_input_size:
        raise UsageError(f"--image_size {size} is too small for {spec.name}: it needs at least "
                         f"{spec.min_input_size} px")
    model = create_model(spec.name, num_classes=FLAGS.num_classes, input_shape=(size, size, 3))
    form = None
    if FLAGS.fused or FLAGS.precision != "float32":
        from tfzoo.export.precision import bfloat16_cpu_note
        from tfzoo.export.saved_model import inference_form

        model, form = inference_form(model, reparameterize=True, fuse_bn=True, precision=FLAGS.precision)
        note = bfloat16_cpu_note(FLAGS.precision)
        if note:
            print(note, file=sys.stderr)
    result = {"model": spec.name, "image_size": size, "batch_size": FLAGS.batch_size,
              **count_params(model), "gflops": round(count_flops(model, size) / 1e9, 4)}
    if form is not None:
        result.update(form=form["form"], fused_batchnorms=form["fused_batchnorms"],
                      reparameterized_layers=form["reparameterized_layers"], precision=form["precision"])
    result["images_per_sec"] = round(time_inference(model, FLAGS.batch_size, size, xla=FLAGS.xla,
                                                    iterations=FLAGS.iterations), 2)
    if FLAGS.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<18} {value}")
