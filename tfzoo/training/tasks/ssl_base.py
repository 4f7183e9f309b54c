"""What the self-supervised tasks share: the wrapper's train step, replica helpers, the task and its monitor.

Every method (`simclr`, `moco`, `moco_v3`, `swav`, `instdisc`) is an
`SSLModel`: a `TaskModel` around the backbone (any zoo model built with
``include_top=False`` and pooling, outputting ``[B, C]`` features) that adds
the method's heads and training-only state, and overrides ``train_step``:

1. `before_step`: state that must change before the forward pass (the MoCo
   momentum encoder, SwAV's prototype normalization);
2. `ssl_loss` under a gradient tape: this replica's loss over the views of
   its share of the batch, with negatives / Sinkhorn sums over the global
   batch (`gather`, `all_reduce_sum`); it returns the state writes that wait
   for the update (queue keys, memory-bank rows);
3. the optimizer step on the wrapper's trainable variables (backbone, heads,
   prototypes), the loss divided by the replicas first
   (``scale_loss_for_distribution``) since the gradients are summed over
   replicas, so the update is that of the global-batch mean;
4. `apply_updates`: the deferred state writes.

Step-dependent behaviour (MoCo v3's momentum schedule, SwAV's prototype
freezing and queue start) reads the optimizer's step counter, which the
checkpoint restores, so a resumed run continues exactly. All state lives in
variables the wrapper tracks (a momentum encoder, queue and pointer, memory
bank, NCE's Z ...), so ``save_weights`` (the epoch checkpoint) holds it, and
`inference_model` returns the backbone alone for ``model.keras``.

State variables hold the same value on every replica: the writes use the
gathered (global) batch on every replica and go through `assign_in_sync`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfzoo.errors import UsageError
from tfzoo.training.tasks.base import RunContext, Task, TaskModel, inference_model


# ----------------------------------------------------------------------------- replicas
def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def num_replicas() -> int:
    context = _replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def gather(x):
    """`x` of every replica concatenated along the batch in replica order (differentiable); `x` on one device."""
    context = _replica_context()
    return x if context is None else context.all_gather(x, axis=0)


def replica_offset(local_batch):
    """Row of this replica's first example in a `gather`ed batch."""
    context = _replica_context()
    if context is None:
        return 0
    return tf.cast(context.replica_id_in_sync_group, tf.int32) * tf.cast(local_batch, tf.int32)


def all_reduce_sum(x):
    context = _replica_context()
    return x if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, x)


def all_reduce_mean(x):
    context = _replica_context()
    return x if context is None else context.all_reduce(tf.distribute.ReduceOp.MEAN, x)


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def assign_in_sync(variables, values) -> None:
    """Assigns values that every replica computed alike (from gathered data) to mirrored variables.

    Under a `tf.distribute` strategy a replica cannot assign a mirrored
    variable whose aggregation is NONE; the write goes through the
    cross-replica context, each device taking its own (equal) value.
    """
    variables, values = list(variables), list(values)
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        for variable, value in zip(variables, values):
            variable.assign(value)
        return

    def merge(strategy, tf_variables, new_values):
        for variable, value in zip(tf_variables, new_values):
            strategy.extended.update(variable, lambda var, val: var.assign(val), args=(value,), group=False)

    tf.distribute.get_replica_context().merge_call(merge, args=([_tf_variable(v) for v in variables], values))


def scatter_in_sync(variable, indices, rows) -> None:
    """``variable[indices] = rows`` on every replica (rows computed alike everywhere)."""
    def write(var, idx, new_rows):
        return var.scatter_update(tf.IndexedSlices(new_rows, idx))

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        write(_tf_variable(variable), indices, rows)
        return

    def merge(strategy, tf_variable, idx, new_rows):
        strategy.extended.update(tf_variable, write, args=(idx, new_rows), group=False)

    tf.distribute.get_replica_context().merge_call(merge, args=(_tf_variable(variable), indices, rows))


# ----------------------------------------------------------------------------- encoders
def _all_layers(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer)


def copy_model(model: keras.Model, name: str) -> keras.Model:
    """A twin of `model` (same class and config) holding its current weights: a momentum (target) network.

    Its weights take no gradient step (`SSLModel.optimized_variables` leaves
    them out), but its batch norms stay trainable: a Keras batch norm whose
    layer is not trainable normalizes with its moving statistics even in a
    training call, while the references' key / momentum encoders run in train
    mode without gradients, normalizing each batch with its own statistics
    (which MoCo's shuffling BN relies on). Frozen batch norms left the key
    encoder on its initial moving statistics (mean 0, variance 1), so its
    features drifted with the weights and the InfoNCE loss rose towards
    log K.
    """
    twin = type(model).from_config({**model.get_config(), "name": name})
    twin.set_weights(model.get_weights())
    twin.trainable = False
    for layer in _all_layers(twin):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
    twin.is_target_network = True
    return twin


def call_model(model: keras.Model, images, training: bool):
    """`model` on `images` of any spatial size (a functional model checks its build shape in ``__call__``)."""
    return model.call(images, training=training)


def grouped(fn, images, groups: int, permutation=None):
    """``fn`` on `groups` equal slices of the batch, concatenated: batch norm sees each slice alone.

    With `permutation`, the batch is shuffled before slicing and the outputs
    un-shuffled, so each slice mixes examples of other slices (MoCo's
    shuffling BN, within a replica).
    """
    if permutation is not None:
        images = tf.gather(images, permutation)
    if groups > 1:
        outputs = tf.concat([fn(part) for part in tf.split(images, groups, axis=0)], axis=0)
    else:
        outputs = fn(images)
    if permutation is not None:
        outputs = tf.gather(outputs, tf.math.invert_permutation(permutation))
    return outputs


# ----------------------------------------------------------------------------- the wrapper
class SSLModel(TaskModel):
    """Base of the self-supervised wrappers (see the module docstring).

    Args:
        backbone: The zoo backbone (pooled features ``[B, C]``).
        context: The run's `RunContext` (steps per epoch, epochs, ...).
        **kwargs: `keras.Model` arguments.
    """

    method = "ssl"

    def __init__(self, backbone: keras.Model, context: RunContext, **kwargs):
        kwargs.setdefault("name", f"{backbone.name}_{self.method}")
        super().__init__(**kwargs)
        self.backbone = backbone
        self.steps_per_epoch = int(context.steps_per_epoch)
        self.total_epochs = int(context.epochs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True  # every variable is created in __init__ (heads are functional models, state is explicit)

    @property
    def feature_dim(self) -> int:
        return int(self.backbone.output.shape[-1])

    def inference_model(self) -> keras.Model:
        return self.backbone

    def call(self, inputs, training=False):
        return self.backbone(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def epoch_fraction(self, step):
        """Fractional epoch ``step / steps_per_epoch`` (float32)."""
        return tf.cast(step, tf.float32) / float(self.steps_per_epoch)

    # -- what a method implements
    def before_step(self, step) -> None:
        """State writes before the forward pass."""

    def ssl_loss(self, inputs: dict, step):
        """``(loss, updates)``: this replica's mean loss and what `apply_updates` writes after the step."""
        raise NotImplementedError

    def apply_updates(self, updates, step) -> None:
        """Deferred state writes (after the optimizer step)."""

    def optimized_variables(self) -> list:
        """The variables the optimizer updates: the trainable ones less those of momentum (target) networks."""
        frozen = {id(variable) for layer in _all_layers(self) if getattr(layer, "is_target_network", False)
                  for variable in layer.weights}
        return [variable for variable in self.trainable_variables if id(variable) not in frozen]

    def gradient_mask(self, step):
        """``{variable_path: bool tensor}``: variables whose update this step must leave out, or {}."""
        return {}

    # -- the step
    def train_step(self, data):
        # (views, labels) batches of `tfzoo.data.load_dataset(views_fn=...)`; labels with the train index
        # are {"label", "index"} (train_index=True).
        views, labels = data[0], data[1]
        index = labels.get("index") if isinstance(labels, dict) else None
        inputs = {"views": tuple(views) if isinstance(views, (tuple, list)) else (views,), "index": index}
        step = tf.convert_to_tensor(self.optimizer.iterations)
        self.before_step(step)
        with tf.GradientTape() as tape:
            loss, updates = self.ssl_loss(inputs, step)
            # Gradients are summed over replicas: each replica's share is its mean / replicas.
            scaled = self.optimizer.scale_loss(loss / float(num_replicas()))
        variables = self.optimized_variables()
        gradients = tape.gradient(scaled, variables)
        frozen = self.gradient_mask(step)
        kept = {}
        for variable in variables:
            if variable.path in frozen:
                kept[variable.path] = tf.identity(variable.value)
        self.optimizer.apply_gradients(zip(gradients, variables))
        if kept:  # a frozen variable keeps its value (weight decay and momentum would still move it)
            restore = [(v, tf.where(frozen[v.path], kept[v.path], v.value)) for v in variables if v.path in kept]
            assign_in_sync([v for v, _ in restore], [value for _, value in restore])
        self.apply_updates(updates, step)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):  # no labelled validation loss: the kNN monitor evaluates
        return {}


# ----------------------------------------------------------------------------- the task
class SSLTask(Task):
    """A self-supervised method as a trainer task.

    Args:
        config: The run's `TrainConfig`; ``config.ssl`` is the resolved `SSLConfig`.
    """

    name = "pretrain"
    validates = False
    model_class: type = SSLModel

    def __init__(self, config):
        self.config = config
        self.ssl = config.ssl
        self.method = self.ssl.method
        self._monitor = None
        self._context = None

    def build_arguments(self, spec) -> dict:
        tokens = any(info.tokens and info.num_prefix_tokens for info in spec.feature_info)
        return {"include_top": False, "pooling": "token" if tokens else "avg"}

    def augment_overrides(self) -> dict:
        """`ViewAugment` fields every view takes from the run's flags (``--nohflip``, ``--crop_scale_min``)."""
        overrides = {}
        if not self.config.hflip:
            overrides["flip"] = False
        return overrides

    def views(self, preprocess):
        from tfzoo.data import ssl_augment

        overrides = self.augment_overrides()
        overrides["scale"] = (self.config.crop_scale_min, 1.0)
        return ssl_augment.two_view_fn(self.method, preprocess.image_size, preprocess, seed=self.config.seed,
                                       **overrides)

    def check_batch(self, context: RunContext) -> None:
        if context.batch_size % context.replicas:
            raise UsageError(f"--batch_size {context.batch_size} must be a multiple of the {context.replicas} "
                             "replicas (every replica takes an equal share of the global batch)")

    def training_model(self, model, context):
        self.check_batch(context)
        self._context = context
        return self.build(model, context)

    def build(self, backbone, context) -> SSLModel:
        raise NotImplementedError

    def compile(self, model, optimizer, *, num_classes, label_smoothing, xla):
        model.compile(optimizer=optimizer, jit_compile=xla)
        return model

    def targets_fn(self, num_classes):
        return lambda views, labels: (views, labels)  # labels are not learned (nor one-hot encoded)

    def train_features_fn(self):
        """``fn(trained_model) -> (features, labels)`` for the kNN monitor, or None (a pass over the train split)."""
        return None

    def knn_backbone_fn(self):
        """``fn(trained_model) -> keras.Model`` whose features the kNN monitor compares, or None: the backbone."""
        return None

    def callbacks(self, context):
        return [self.monitor(context)]

    def monitor(self, context):
        """The kNN monitor (`tfzoo.training.knn.KNNMonitor`) of the val split; made once."""
        from tfzoo.training.knn import KNNMonitor

        if self._monitor is not None:
            return self._monitor
        bundle = context.load_eval(max(64, min(256, context.batch_size)))
        features_fn = self.train_features_fn()
        if features_fn is not None:
            labels = np.concatenate([np.asarray(y).reshape(-1) for _, y in bundle.train]).astype(np.int32)
            features_fn = _with_labels(features_fn, labels)
        self._monitor = KNNMonitor(bundle.val, bundle.num_classes, train_data=bundle.train,
                                   train_features_fn=features_fn, backbone_fn=self.knn_backbone_fn(), k=self.ssl.knn_k,
                                   temperature=self.ssl.knn_temperature, verbose=True)
        return self._monitor

    def run_info(self) -> dict:
        return {"task": "pretrain", "method": self.method}

    def evaluate(self, model, val) -> dict:
        monitor = self.monitor(self._context)  # made here when a finished run is only re-evaluated
        monitor.set_model(model)
        last = monitor.history[-1] if monitor.history else None
        results = last if last and last["epoch"] == self.config.epochs else monitor.evaluate()
        return {"knn_top1": float(results["knn_top1"]), "knn_top5": float(results["knn_top5"]),
                "knn_k": self.ssl.knn_k, "method": self.method}

    def summary(self, metrics):
        return f"{self.method} kNN top-1 {metrics['knn_top1']:.4f}, top-5 {metrics['knn_top5']:.4f}"

    def describe(self):
        fields = {key: value for key, value in self.ssl.to_dict().items()
                  if value is not None and key not in ("method", "knn_k", "knn_temperature")}
        return f"Self-supervised {self.method}: " + ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                                                               for k, v in fields.items())


def _with_labels(features_fn, labels):
    def fn(model):
        return np.asarray(features_fn(model), np.float32), labels
    return fn


__all__ = ["SSLModel", "SSLTask", "all_reduce_mean", "all_reduce_sum", "assign_in_sync", "call_model", "copy_model",
           "gather", "grouped", "inference_model", "num_replicas", "replica_offset", "scatter_in_sync"]
