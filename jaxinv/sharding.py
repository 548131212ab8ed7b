"""Data parallelism over every device: one `data` mesh axis, batches split along it, the rest replicated.

    initialize_distributed()                 # at program start; a no-op on one machine
    mesh = data_mesh()                       # all devices of all processes
    bs = padded_batch_size(8, mesh)          # the batch size to load (a multiple of the device count)
    params = replicate(mesh, params)         # parameters and shared operators: one copy per device
    images = shard_batch(mesh, images)       # (bs, ...) arrays: rows split over the devices
    out = to_host(jitted_fn(params, images)) # numpy on every process (gathers across hosts)

A sampler that is `jax.vmap` over the batch needs no change: `jax.jit` partitions the vmapped
program along the sharded leading axis, and collectives over a vmap `axis_name` (DPS's
batch-coupled norm) become cross-device reductions. Multi-host: every process runs the same
program on the same global batch shapes; `shard_batch` takes the whole batch on every process
(each places only the rows its devices hold), `shard_local_batch` takes only this process's rows
(`process_rows`), as a loader that reads a slice per host produces.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"

# What `initialize_distributed` recognises: explicit JAX_* variables, or a launcher that
# `jax.distributed.initialize()` auto-detects (jax/_src/clusters: slurm_cluster.py, ompi_cluster.py).
EXPLICIT_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
SLURM_ENV = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
OMPI_ENV = ("OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_SIZE")


def distributed_launcher(environ: Mapping[str, str] | None = None) -> str | None:
    """Which multi-process launch `environ` (default `os.environ`) describes: "env", "slurm", "ompi" or None.

    "env": JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID are all set (a partial set
    is an error). "slurm" / "ompi": an `srun` step or `mpirun` with more than one task, which
    `jax.distributed.initialize()` configures by itself. A single-task Slurm or MPI job is None:
    it runs as one process, like a plain command.
    """
    env = os.environ if environ is None else environ
    present = [k for k in EXPLICIT_ENV if env.get(k)]
    if present and len(present) < len(EXPLICIT_ENV):
        missing = [k for k in EXPLICIT_ENV if k not in present]
        raise ValueError(f"multi-process run: {', '.join(present)} set but {', '.join(missing)} missing "
                         f"(set all of {', '.join(EXPLICIT_ENV)}, or none)")
    if present:
        return "env"
    if all(env.get(k) for k in SLURM_ENV) and int(env["SLURM_NTASKS"]) > 1:
        return "slurm"
    if all(env.get(k) for k in OMPI_ENV) and int(env["OMPI_COMM_WORLD_SIZE"]) > 1:
        return "ompi"
    return None


def initialize_distributed(environ: Mapping[str, str] | None = None) -> bool:
    """Join a multi-process JAX run when the environment describes one; returns whether it did.

    Call it first, before anything touches a device (`jax.devices()`, a jit call). With
    JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES=N and JAX_PROCESS_ID=i set, calls
    `jax.distributed.initialize(address, N, i)`; inside `srun -n N` (N > 1) or `mpirun -np N`,
    calls `jax.distributed.initialize()`, which reads Slurm's / Open MPI's variables. Otherwise,
    or when already initialised, does nothing and returns False: a single-process run is unchanged.
    Other clusters (TPU pods, Kubernetes) are joined by setting the JAX_* variables.
    """
    env = os.environ if environ is None else environ
    launcher = distributed_launcher(env)
    if launcher is None or jax.distributed.is_initialized():
        return False
    if launcher == "env":
        jax.distributed.initialize(env["JAX_COORDINATOR_ADDRESS"], num_processes=int(env["JAX_NUM_PROCESSES"]),
                                   process_id=int(env["JAX_PROCESS_ID"]))
    else:
        jax.distributed.initialize()
    return True


def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis `data` over `devices` (default: `jax.devices()`, every process's devices).

    `jax.devices()` lists devices process by process, so each process's devices hold a contiguous
    block of batch rows (what `shard_local_batch` and `process_rows` rely on).
    """
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over `data`: `NamedSharding(mesh, PartitionSpec('data'))`."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device: `NamedSharding(mesh, PartitionSpec())`."""
    return NamedSharding(mesh, PartitionSpec())


def padded_batch_size(batch_size: int, mesh_or_count: Mesh | int) -> int:
    """The smallest multiple of the device count that is >= `batch_size` (the batch size to load)."""
    count = mesh_or_count.size if isinstance(mesh_or_count, Mesh) else int(mesh_or_count)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return math.ceil(batch_size / count) * count


def check_divisible(batch_size: int, mesh: Mesh, what: str = "batch") -> None:
    """ValueError unless `batch_size` splits evenly over the mesh's devices (names the padded size)."""
    if batch_size % mesh.size:
        raise ValueError(f"{what} size {batch_size} is not divisible by the {mesh.size} devices of the "
                         f"'{DATA_AXIS}' mesh; pad it to {padded_batch_size(batch_size, mesh)} "
                         "(jaxinv.sharding.padded_batch_size)")


def process_rows(mesh: Mesh, batch_size: int) -> slice:
    """The rows of a global batch of `batch_size` that this process's devices hold (what it feeds)."""
    check_divisible(batch_size, mesh)
    per_device = batch_size // mesh.size
    mine = [i for i, d in enumerate(mesh.devices.flat) if d.process_index == jax.process_index()]
    if mine != list(range(mine[0], mine[-1] + 1)):
        raise ValueError("this process's devices are not contiguous in the mesh; build it with data_mesh()")
    return slice(mine[0] * per_device, (mine[-1] + 1) * per_device)


def _leading(tree, mesh, what):
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        shape = np.shape(leaf)
        if not shape:
            raise ValueError(f"{what}: leaf {jax.tree_util.keystr(path) or '<root>'} is a scalar; "
                             "every leaf of a batch needs a leading batch axis")
        check_divisible(shape[0], mesh, f"{what} leaf {jax.tree_util.keystr(path) or '<root>'}: batch")


def shard_batch(mesh: Mesh, tree: Any) -> Any:
    """Every leaf of `tree` (the whole global batch, the same on every process) split along its leading axis.

    Leaves become `jax.Array`s with `batch_sharding(mesh)`: device d holds rows
    [d * B/n, (d+1) * B/n). Raises ValueError naming the leaf when B is not divisible by the
    device count n (`padded_batch_size` gives the size to pad to).
    """
    _leading(tree, mesh, "shard_batch")
    sharding = batch_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x), np.shape(x)), tree)


def shard_local_batch(mesh: Mesh, tree: Any) -> Any:
    """Like `shard_batch`, from this process's rows only (`process_rows`): leaves of B/P rows -> B rows."""
    _leading(jax.tree.map(lambda x: np.empty((np.shape(x)[0] * jax.process_count(),)), tree), mesh,
             "shard_local_batch")
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def replicate(mesh: Mesh, tree: Any) -> Any:
    """Every leaf of `tree` (parameters, a shared operator; the same on every process) copied to every device."""
    sharding = replicated_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x), np.shape(x)), tree)


_BARRIERS = [0]
BARRIER_TIMEOUT_S = 3600


def _wait_for_all_processes():
    # CPU (gloo) collectives give up after 30 s; a process that finishes compiling first would
    # otherwise time out in the all-gather. The coordination service's barrier waits patiently.
    from jax._src import distributed

    client = distributed.global_state.client
    if client is None or not hasattr(client, "wait_at_barrier"):
        return
    _BARRIERS[0] += 1
    client.wait_at_barrier(f"jaxinv_to_host_{_BARRIERS[0]}", BARRIER_TIMEOUT_S * 1000)


def to_host(tree: Any) -> Any:
    """The global values of `tree`'s arrays as numpy, on every process (an all-gather when multi-host).

    Multi-host, every process must call it, in the same order (it is a collective).
    """
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    if jax.devices()[0].platform == "cpu":
        _wait_for_all_processes()
    return multihost_utils.process_allgather(tree, tiled=True)


def is_writer() -> bool:
    """True on the one process that writes files (process 0; the only process of a plain run)."""
    return jax.process_index() == 0


def describe(mesh: Mesh) -> dict:
    """JSON-able facts about the mesh for a run's summary: device count, process count, platform, devices."""
    devices = list(mesh.devices.flat)
    return {"num_devices": len(devices), "process_count": jax.process_count(), "mesh_axis": DATA_AXIS,
            "platform": devices[0].platform, "local_devices": sum(d.process_index == jax.process_index()
                                                                  for d in devices)}
