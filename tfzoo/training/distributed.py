"""Multi-worker data-parallel training with `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3's TensorFlow trainer does not run `model.fit` / `model.evaluate` under
`MultiWorkerMirroredStrategy` (keras-team/keras#20585, still open for Keras
3.15). Two spots in ``keras/src/backend/tensorflow/trainer.py`` fail once the
strategy is in multi-worker mode:

1. ``TensorFlowTrainer._maybe_symbolic_build`` takes the first distributed
   batch and calls ``strategy.reduce("MEAN", batch, axis=None)`` on the whole
   ``(images, labels)`` tuple, only to learn the input shapes. Mirrored
   strategies reduce nested structures, but the collective strategy's
   ``reduce_to`` does not and fails with "Attempt to convert a value
   (PerReplica ...) to a Tensor".
2. ``reduce_per_replica(outputs, strategy, reduction="auto")`` (the reduction
   is hard-coded, so ``Model.distribute_reduction_method`` does not reach it)
   turns ``"auto"`` into ``"mean"``, which in multi-worker mode is
   ``strategy.reduce("MEAN", value, axis=0)``: every log a train/test step
   returns is a scalar, and reducing axis 0 of a scalar fails ("Invalid
   reduction dimension 0 for input with 0 dimensions").

`MultiWorkerModel` fixes both at the model level, without touching Keras:
it builds from one replica's local slice of the first batch (shapes are all
the symbolic build needs), and its train/test steps return each log as a
``[1]`` tensor, so that the hard-coded ``axis=0`` mean becomes the mean of the
replicas' values: the global loss and metrics. Epoch-end logs are unaffected:
Keras reads them from the metric variables, whose cross-replica read already
sums over all workers.

The rest of this module is the plumbing a multi-worker run needs: which task
is the chief (the only writer of the run's results), a per-worker backup
directory, per-worker input pipelines fed with the per-worker share of the
global batch, evaluation shards of equal size (so that every worker runs the
same number of steps), and agreeing on the epoch to resume from.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import tensorflow as tf

from tfzoo.errors import UsageError

TF_CONFIG_HELP = (
    'set TF_CONFIG on every host, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}} (index 1 on host2)'
)


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in a multi-worker cluster (from ``TF_CONFIG``).

    Attributes:
        task_type: ``"chief"`` or ``"worker"``.
        task_index: Index within `task_type`.
        num_workers: Number of training tasks (chief included).
        has_chief_task: The cluster names a ``chief`` task (else worker 0 is the chief).
    """

    task_type: str = "worker"
    task_index: int = 0
    num_workers: int = 1
    has_chief_task: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief writes the run: the ``chief`` task, else worker 0 (TensorFlow's convention)."""
        if self.has_chief_task:
            return self.task_type == "chief"
        return self.task_index == 0

    def task_run_dir(self, run_dir: str) -> str:
        """The directory this task writes to: the run dir for the chief, a backup dir for the others.

        Every non-chief worker keeps its own checkpoints (like
        `keras.callbacks.BackupAndRestore`) under ``RUN_DIR/workers/``, so a
        restarted worker resumes from its own files whether or not the run
        directory is on a shared filesystem, and never overwrites the chief's.
        """
        if self.is_chief:
            return run_dir
        return os.path.join(run_dir, "workers", f"{self.task_type}-{self.task_index}")


def cluster_task_from_env(environ=None) -> ClusterTask:
    """Parses ``TF_CONFIG``.

    Raises:
        UsageError: if TF_CONFIG is missing or malformed.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG")
    if not raw:
        raise UsageError(f"--strategy multi_worker needs the TF_CONFIG environment variable; {TF_CONFIG_HELP}")
    try:
        config = json.loads(raw)
        cluster = config["cluster"]
        task = config["task"]
        task_type, task_index = str(task["type"]), int(task["index"])
        training = {name: list(cluster.get(name, [])) for name in ("chief", "worker")}
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"TF_CONFIG is not valid ({error}); {TF_CONFIG_HELP}") from None
    if task_type not in training or not 0 <= task_index < len(training[task_type]):
        raise UsageError(f"TF_CONFIG task {task_type}:{task_index} is not in its cluster; {TF_CONFIG_HELP}")
    return ClusterTask(task_type=task_type, task_index=task_index,
                       num_workers=len(training["chief"]) + len(training["worker"]),
                       has_chief_task=bool(training["chief"]))


class MultiWorkerMixin:
    """The two Keras workarounds (module docstring) for any `keras.Model` subclass: mix in first."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras reduces the whole first batch across workers just to read its
        # shapes (fails, spot 1); one local replica's slice has the shapes the
        # per-replica step traces with, and needs no collective.
        if iterator is not None:
            strategy = self.distribute_strategy
            for _, _, step_iterator in iterator:
                batch = next(step_iterator)
                data_batch = tf.nest.map_structure(lambda value: strategy.experimental_local_results(value)[0],
                                                   batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    @staticmethod
    def _as_vectors(logs):
        # Spot 2: Keras reduces every returned log with
        # strategy.reduce("MEAN", value, axis=0). Rank-1 logs make that the
        # mean over all replicas of all workers.
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    def train_step(self, data):
        return self._as_vectors(super().train_step(data))

    def test_step(self, data):
        return self._as_vectors(super().test_step(data))


@keras.saving.register_keras_serializable(package="tfzoo")
class MultiWorkerModel(MultiWorkerMixin, keras.Model):
    """A functional model that `fit`s and `evaluate`s under MultiWorkerMirroredStrategy.

    Build it from an existing functional model inside the strategy's scope
    with `MultiWorkerModel.wrap(model)`; it shares that model's layers and
    weights, and its weight files and `get_config` are the inner model's.
    See the module docstring for the two Keras spots it works around.
    """

    @classmethod
    def wrap(cls, model: keras.Model) -> "MultiWorkerModel":
        wrapped = cls(inputs=model.inputs, outputs=model.outputs, name=model.name)
        # `EpochCheckpoint` saves model.keras as the wrapped model's class and config
        # (`tfzoo.training.tasks.inference_model`).
        wrapped.inference_twin_source = lambda: model
        return wrapped


def per_worker_batch_size(strategy: tf.distribute.Strategy, global_batch_size: int) -> int:
    """The share of the global batch that one worker's input pipeline produces.

    Raises:
        UsageError: if the global batch does not split evenly over the replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise UsageError(f"--batch_size {global_batch_size} is the global batch and must be a multiple of the "
                         f"{replicas} replicas of this cluster")
    return global_batch_size // replicas * len(strategy.extended.worker_devices)


def distribute_datasets(strategy: tf.distribute.Strategy, dataset_fn, global_batch_size: int):
    """One input pipeline per worker, each feeding its share of every global batch.

    Args:
        strategy: The multi-worker strategy.
        dataset_fn: ``dataset_fn(input_context, batch_size) -> tf.data.Dataset``
            that shards by `input_context` (see `tfzoo.data.load_dataset`) and
            batches with `batch_size`, the per-worker share of
            `global_batch_size`.
        global_batch_size: Examples per optimizer step over the whole cluster.

    Returns:
        A distributed dataset: each step consumes `global_batch_size` examples
        in total, so the learning rate (and any linear scaling of it) stays
        tied to the global batch.
    """
    per_worker = per_worker_batch_size(strategy, global_batch_size)

    def fn(input_context):
        return dataset_fn(input_context, per_worker)

    # Unlike experimental_distribute_dataset, this never auto-shards: our
    # pipelines shard themselves by input_context, before shuffling.
    return strategy.distribute_datasets_from_function(fn)


def even_shard(dataset: tf.data.Dataset, num_examples: int, input_context, batch_size: int) -> tf.data.Dataset:
    """Cuts a worker's batched evaluation shard to exactly ``num_examples // num_workers`` examples.

    Shards of a split whose size does not divide by the number of workers
    differ by one example, and can then differ by one (partial) batch. The
    workers would run a different number of evaluation steps and their
    collectives would no longer pair up: the run fails ("Collective instance
    ... expected type ...") or hangs. Equal shards give every worker the same
    steps and the same final partial batch, at the cost of leaving out fewer
    than `num_workers` examples of the whole split.

    Args:
        dataset: This worker's shard, batched (train pipelines repeat forever
            and need no cut).
        num_examples: Examples in the whole split.
        input_context: The worker's `tf.distribute.InputContext`.
        batch_size: This worker's batch size.
    """
    per_worker = num_examples // input_context.num_input_pipelines
    return dataset.unbatch().take(per_worker).batch(batch_size)


def cluster_task(strategy_name: str) -> ClusterTask | None:
    """This process's `ClusterTask` for ``--strategy multi_worker``, else None.

    Reads only the environment, so the trainer can pick its run directory
    before TensorFlow initializes its devices (which the multi-worker strategy
    must precede).
    """
    return cluster_task_from_env() if strategy_name == "multi_worker" else None


def task_run_dir(run_dir: str, task: ClusterTask | None) -> str:
    return run_dir if task is None else task.task_run_dir(run_dir)


def agreed_checkpoint(strategy: tf.distribute.Strategy, run, latest):
    """The checkpoint all workers resume from: their common newest epoch.

    Args:
        strategy: The multi-worker strategy.
        run: This task's `RunDir`.
        latest: ``run.latest_checkpoint()``: ``(epoch, path)`` or None.

    Returns:
        ``(epoch, path)`` in this task's directory, or None to start afresh.

    Raises:
        UsageError: if this worker no longer has the agreed epoch's checkpoint.
    """
    epoch = agree_on_initial_epoch(strategy, latest[0] if latest else 0)
    if epoch == 0:
        return None
    path = run.checkpoint_file(epoch)
    if not os.path.isfile(path):
        raise UsageError(f"the workers' newest common checkpoint is epoch {epoch}, but {path} is missing; "
                         "delete every worker's checkpoints to restart the run")
    return epoch, path


def agree_on_initial_epoch(strategy: tf.distribute.Strategy, local_epoch: int) -> int:
    """The newest epoch every worker has a checkpoint of (the minimum over workers).

    Workers checkpoint independently; a worker killed between two writes may be
    one epoch behind the others. All must start from the same epoch, or their
    collectives no longer pair up and the cluster hangs.
    """
    value = tf.constant([local_epoch], tf.int64)
    per_replica = strategy.run(lambda: tf.identity(value))
    gathered = strategy.gather(per_replica, axis=0)
    return int(tf.reduce_min(gathered).numpy())
