"""tf.distribute: mirrored replicas match one device; a 2-worker MultiWorkerMirroredStrategy run trains.

Both scenarios run in child processes (see distributed_testlib): logical CPU
devices and the collective runtime are fixed when TensorFlow initializes.
"""

from __future__ import annotations

import json
import os
import sys

import h5py
import numpy as np
import pytest

from tests.training import distributed_testlib as lib
from tfzoo.errors import UsageError
from tfzoo.training import distributed
from tfzoo.training.distributed import cluster_task_from_env


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_device(tmp_path):
    out = tmp_path / "weights.npz"
    [(code, output)] = lib.run_processes(
        [([sys.executable, "-m", "tests.training.distributed_testlib", "mirrored", str(out), "4"], lib.child_env())],
        timeout=240)
    assert code == 0, output[-4000:]
    result = np.load(out)
    assert int(result["plain_mirrored_replicas"]) == 2 and int(result["plain_one_device_replicas"]) == 1

    # Without BatchNorm, the mirrored step is the single-device step: the mean
    # loss over the global batch is split into two halves whose gradients are
    # summed across replicas. Only the float32 summation order differs
    # (~1e-7 per weight per step, measured max 4e-7 after these 4 SGD steps
    # at lr 0.5, momentum 0.9); 1e-5 leaves headroom while any real
    # difference (a loss scaled by the per-replica batch, or a gradient
    # averaged instead of summed) moves weights by >1e-2.
    index = 0
    while f"plain_one_device_{index}" in result:
        np.testing.assert_allclose(result[f"plain_mirrored_{index}"], result[f"plain_one_device_{index}"],
                                   rtol=0, atol=1e-5, err_msg=f"weight {index}")
        index += 1
    assert index == 4

    # With BatchNorm each replica normalizes by its own half-batch statistics,
    # so the two runs legitimately differ (why the comparison above uses a
    # model without BN); this also shows the comparison can fail.
    diffs = [np.abs(result[f"bn_mirrored_{i}"] - result[f"bn_one_device_{i}"]).max() for i in range(8)]
    assert max(diffs) > 1e-3


def _train_cluster(tmp_path, run_dir, config, attempts=2):
    """Starts a 2-worker cluster on free localhost ports; retries once if a port was taken meanwhile."""
    for attempt in range(attempts):
        ports = lib.free_ports(2)
        cluster = {"worker": [f"localhost:{port}" for port in ports]}
        commands = []
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            out = tmp_path / f"worker{index}.npz"
            commands.append(([sys.executable, "-m", "tests.training.distributed_testlib", "train", str(run_dir),
                              str(out), json.dumps(config)], lib.child_env(TF_CONFIG=tf_config)))
        results = lib.run_processes(commands, timeout=300)
        if all(code == 0 for code, _ in results):
            return results
        if attempt + 1 < attempts and any("already in use" in output.lower() for _, output in results):
            continue
        pytest.fail("\n".join(f"--- worker {i} (exit {code}) ---\n{output[-4000:]}"
                              for i, (code, output) in enumerate(results)))


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
                          else None)
    return arrays


@pytest.mark.slow
def test_multi_worker_trains_two_identical_replicas_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    config = {"dataset": "digits", "image_size": 16, "batch_size": 32, "epochs": 2, "steps_per_epoch": 3,
              "strategy": "multi_worker", "optimizer": "sgd", "learning_rate": 0.1}
    _train_cluster(tmp_path, run_dir, config)

    chief_metrics = json.loads(str(np.load(tmp_path / "worker0.npz")["metrics"]))
    worker_metrics = json.loads(str(np.load(tmp_path / "worker1.npz")["metrics"]))
    assert chief_metrics["replicas"] == worker_metrics["replicas"] == 2
    assert chief_metrics["global_batch_size"] == 32
    # Evaluation is global: both workers report the same numbers over all 360 val images.
    assert chief_metrics["val_loss"] == pytest.approx(worker_metrics["val_loss"], rel=1e-6)
    assert chief_metrics["val_top1"] == pytest.approx(worker_metrics["val_top1"], abs=1e-6)

    # The chief alone writes the run; worker 1 keeps only its backup checkpoints.
    # (.lock: the run-directory lock file, tfzoo.utils.lock)
    assert sorted(os.listdir(run_dir)) == [".lock", "checkpoints", "logs", "metrics.json", "model.keras", "run.json",
                                           "workers"]
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["epoch-0001.weights.h5", "epoch-0002.weights.h5"]
    assert os.listdir(run_dir / "workers") == ["worker-1"]
    backup = run_dir / "workers" / "worker-1"
    assert sorted(os.listdir(backup)) == [".lock", "checkpoints", "run.json"]
    assert json.loads((run_dir / "metrics.json").read_text())["val_loss"] == chief_metrics["val_loss"]

    # Synchronous data parallelism: both workers end with identical weights
    # (and optimizer state), bit for bit, and training moved them.
    chief = _h5_arrays(run_dir / "checkpoints" / "epoch-0002.weights.h5")
    worker = _h5_arrays(backup / "checkpoints" / "epoch-0002.weights.h5")
    first = _h5_arrays(run_dir / "checkpoints" / "epoch-0001.weights.h5")
    assert chief.keys() == worker.keys() and len(chief) >= 6
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    kernel = next(name for name in sorted(chief) if chief[name].ndim == 4)  # a conv kernel
    assert np.abs(chief[kernel] - first[kernel]).max() > 1e-4

    # Resume with one more epoch after worker 1 "lost" its newest backup: the
    # workers must agree on the newest epoch both have (1, not the chief's 2),
    # or their collectives would no longer pair up.
    os.unlink(backup / "checkpoints" / "epoch-0002.weights.h5")
    _train_cluster(tmp_path, run_dir, {**config, "epochs": 3})
    for index in range(2):
        metrics = json.loads(str(np.load(tmp_path / f"worker{index}.npz")["metrics"]))
        assert metrics["resumed_from_epoch"] == 1 and metrics["epochs_run"] == 3
    chief = _h5_arrays(run_dir / "checkpoints" / "epoch-0003.weights.h5")
    worker = _h5_arrays(backup / "checkpoints" / "epoch-0003.weights.h5")
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)


def test_tf_config_parsing():
    two_workers = {"cluster": {"worker": ["a:1", "b:2"]}}
    task = cluster_task_from_env({"TF_CONFIG": json.dumps({**two_workers, "task": {"type": "worker", "index": 1}})})
    assert (task.task_type, task.task_index, task.num_workers, task.is_chief) == ("worker", 1, 2, False)
    assert task.task_run_dir("/r") == os.path.join("/r", "workers", "worker-1")
    task = cluster_task_from_env({"TF_CONFIG": json.dumps({**two_workers, "task": {"type": "worker", "index": 0}})})
    assert task.is_chief and task.task_run_dir("/r") == "/r"
    # With a "chief" task, worker 0 is an ordinary worker.
    with_chief = {"cluster": {"chief": ["c:0"], "worker": ["a:1"]}}
    chief = cluster_task_from_env({"TF_CONFIG": json.dumps({**with_chief, "task": {"type": "chief", "index": 0}})})
    worker = cluster_task_from_env({"TF_CONFIG": json.dumps({**with_chief, "task": {"type": "worker", "index": 0}})})
    assert chief.is_chief and not worker.is_chief and chief.num_workers == 2
    assert distributed.cluster_task("mirrored") is None

    for environ, message in [({}, "needs the TF_CONFIG"), ({"TF_CONFIG": "{"}, "not valid"),
                             ({"TF_CONFIG": json.dumps({**two_workers, "task": {"type": "worker", "index": 2}})},
                              "not in its cluster")]:
        with pytest.raises(UsageError, match=message):
            cluster_task_from_env(environ)


def test_per_worker_batch_is_the_workers_share_of_the_global_batch():
    from types import SimpleNamespace

    # 2 workers x 4 GPUs: a global batch of 512 is 64 per replica, 256 per worker pipeline.
    strategy = SimpleNamespace(num_replicas_in_sync=8, extended=SimpleNamespace(worker_devices=["gpu"] * 4))
    assert distributed.per_worker_batch_size(strategy, 512) == 256
    with pytest.raises(UsageError, match="multiple of the 8 replicas"):
        distributed.per_worker_batch_size(strategy, 100)


def test_even_shard_gives_every_worker_the_same_evaluation_batches():
    import tensorflow as tf

    # 33 examples over 2 workers: shards of 17 and 16, i.e. batches of 8 [8, 8, 1] and [8, 8]. Unequal step
    # counts make the workers' collectives disagree (measured: "Collective instance ... expected type"), so
    # both are cut to 33 // 2 = 16 examples.
    sizes = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline)
        shard = tf.data.Dataset.range(33).shard(2, pipeline).batch(8)
        cut = distributed.even_shard(shard, 33, context, 8)
        batches = [batch.tolist() for batch in cut.as_numpy_iterator()]
        sizes.append([len(batch) for batch in batches])
        assert sum(batches, []) == list(range(pipeline, 33, 2))[:16]
    assert sizes == [[8, 8], [8, 8]]
