"""Data-parallel runs (jaxinv.sharding): the same images on 4 devices, 2 processes and 1 device.

Several devices need XLA_FLAGS before jax is imported, so each run is a subprocess executing this
file (`python tests/test_sharding.py run ...`): it runs experiments.run, experiments.sweep and (in one
process) the bench's batches on a tiny random ADM, and records the raw float outputs and how the
inputs were placed.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from numerics import ROUNDING_RTOL, assert_rounding_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = ("a", "b", "c", "d")
# DPS samples without the clamp here, so the layouts compare as smooth maps (tests/numerics.py).
SMOOTH_DPS = "--config.diffusion.clip_denoised=False"
# (preset, solver-specific overrides): a shared operator (DPS SR) and per-image masks (CoDPS+ inpainting)
RUNS = {"dps": ("configs/ffhq/dps_sr4.py", ["--config.diffusion.respacing=4", SMOOTH_DPS,
                                            "--config.data.batch_size=4"]),
        "codps_plus": ("configs/ffhq/codps_plus_inpaint_random.py",
                       ["--config.diffusion.respacing=ddim4", "--config.data.batch_size=2"])}


# ---------------------------------------------------------------- child process
def _tiny_setup(workdir, names=IMAGES):
    """(checkpoint dir, image dir) of a tiny random 32x32 ADM and smooth test images, made once by process 0."""
    import jax
    import jax.numpy as jnp
    from PIL import Image

    from jaxinv.checkpoint import save_params
    from jaxinv.models.adm import ADMConfig, ADMUNet

    tiny = ADMConfig(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=True,
                     attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True, resblock_updown=True)
    ckpt = os.path.join(workdir, "adm")
    images = os.path.join(workdir, "images")
    if jax.process_index() == 0 and not os.path.isdir(ckpt):
        params = jax.jit(ADMUNet(tiny).init)(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,)))["params"]
        save_params(ckpt, params, tiny.to_dict())
        os.makedirs(images)
        rng = np.random.default_rng(0)
        for name in names:
            Image.fromarray(np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((4, 4, 1))).astype(np.uint8)).save(
                os.path.join(images, f"{name}.png"))
    return ckpt, images


def _child_run(workdir, result_path):
    import jax
    import jax.numpy as jnp

    from experiments import run as runner
    from jaxinv import sharding
    from jaxinv.runner import batch
    from jaxinv.solvers import BATCH_AXIS

    ckpt, images = _tiny_setup(workdir)

    def placement(x):
        return {"devices": len(x.sharding.device_set), "replicated": bool(x.sharding.is_fully_replicated),
                "shards": sorted([list(s.data.shape), [sl.start or 0 for sl in s.index][:1]]
                                 for s in x.addressable_shards)}

    records = []
    make = batch.make_batch_fn

    def recording_make_batch_fn(*args, **kwargs):
        fn = make(*args, **kwargs)

        def recorded(params, operator, images, indices, cond=None):
            out = fn(params, operator, images, indices, cond)
            records.append({"params": placement(jax.tree.leaves(params)[0]),
                            "operator": [placement(a) for a in jax.tree.leaves(operator)],
                            "images": placement(images), "indices": placement(indices),
                            "out": sharding.to_host(out), "index": np.asarray(sharding.to_host(indices))})
            return out

        return recorded

    batch.make_batch_fn = recording_make_batch_fn
    result = {"process_index": jax.process_index(), "runs": {}}
    arrays = {}
    for solver, (preset, extra) in RUNS.items():
        records.clear()
        out_root = os.path.join(workdir, f"out_{jax.device_count()}_{jax.process_count()}")
        argv = ["run", f"--config={preset}", f"--config.model.checkpoint_dir={ckpt}", f"--config.data.path={images}",
                "--config.data.image_size=32", f"--config.output.root={out_root}", *extra]
        assert runner.main(argv) == 0
        samples = {int(i): r["out"]["samples"][b] for r in records for b, i in enumerate(r["index"])}
        arrays[f"{solver}_samples"] = np.stack([samples[i] for i in range(len(IMAGES))])
        arrays[f"{solver}_y"] = np.stack([{int(i): r["out"]["y"][b] for r in records
                                           for b, i in enumerate(r["index"])}[i] for i in range(len(IMAGES))])
        runs = [os.path.join(out_root, d, t) for d in os.listdir(out_root) if d.startswith(f"ffhq_{solver}_")
                for t in os.listdir(os.path.join(out_root, d))] if sharding.is_writer() else []
        result["runs"][solver] = {"run_dirs": runs, "batches": len(records),
                                  "placement": [{k: r[k] for k in ("params", "operator", "images", "indices")}
                                                for r in records]}
    config, sweep_arrays, sweep_dir = _sweep(ckpt, images, os.path.join(workdir, f"sweep_{jax.device_count()}_"
                                                                         f"{jax.process_count()}"))
    arrays.update(sweep_arrays)
    result["sweep_run_dir"] = sweep_dir
    if jax.process_count() == 1:   # the bench is single-process by design
        result["bench"] = _bench(config, arrays)
    try:
        sharding.shard_batch(sharding.data_mesh(), {"images": np.zeros((3, 2), np.float32)})
    except ValueError as e:
        result["indivisible_error"] = str(e)
    mesh = sharding.data_mesh()
    result["padded_3"] = sharding.padded_batch_size(3, mesh)
    # each process feeding only its rows builds the same global array as feeding the whole batch
    whole = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    local = sharding.shard_local_batch(mesh, whole[sharding.process_rows(mesh, 8)])
    result["local_batch_equal"] = bool(np.array_equal(sharding.to_host(local), whole))
    result["local_batch_shards"] = [s.index[0].start for s in local.addressable_shards]

    # a batch-coupled vmap collective (DPS batch_norm) spans the devices: one norm over all rows
    def coupled(x):
        return x / jnp.sqrt(jax.lax.psum(jnp.sum(x ** 2), BATCH_AXIS))

    rows = sharding.batch_sharding(mesh)
    fn = jax.jit(jax.vmap(coupled, axis_name=BATCH_AXIS), in_shardings=rows, out_shardings=rows)
    coupled_out = sharding.to_host(fn(sharding.shard_batch(mesh, whole)))
    result["coupled_error"] = float(np.abs(coupled_out - whole / np.sqrt((whole ** 2).sum())).max())
    np.savez(result_path + f".{jax.process_index()}.npz", **arrays)
    with open(result_path + f".{jax.process_index()}.json", "w") as f:
        json.dump(result, f)


def _placement_devices(tree):
    import jax

    return [len(a.sharding.device_set) for a in jax.tree.leaves(tree)]


def _sweep(ckpt, images, out_root):
    """experiments.sweep (DPS SR x4, 3 steps, 2 seeds x 2 scales) on the first 3 images, so 4 devices
    pad them to 4 rows: (config, gathered raw outputs, run dir or None)."""
    from configs.presets import preset
    from experiments import sweep
    from jaxinv import sharding

    config = preset("ffhq", "dps", "sr4")
    config.model.checkpoint_dir, config.data.path, config.data.image_size = ckpt, images, 32
    config.data.end = 3
    config.diffusion.respacing = "3"
    config.diffusion.clip_denoised = False    # smooth: tests/numerics.py
    config.output.root = out_root
    sweep_cfg = sweep.sweep_defaults()
    sweep_cfg.seeds, sweep_cfg.grid = 2, "solver.scale=[0.1,1.0]"
    gathered = []
    to_host = sharding.to_host
    sharding.to_host = lambda tree: gathered.append(to_host(tree)) or gathered[-1]
    try:
        run_dir = sweep.execute(config, sweep_cfg)
    finally:
        sharding.to_host = to_host
    return config, {f"sweep_{k}": v for k, v in gathered[-1].items()}, run_dir


def _bench(config, arrays):
    """The bench's batches (2 images with the host loop, 4 with both loops) on this process's devices."""
    from experiments.bench import jax_side
    from jaxinv import build, sharding
    from jaxinv.execution import batch_sampler

    module, params = build.load_model(config.model)
    placement = {}
    for batch, loop in ((2, "host"), (4, "scan"), (4, "host")):
        mesh = jax_side.bench_mesh(batch)
        operator, y, keys, op_axis = jax_side.make_batch(config, batch, 0, mesh)
        out = batch_sampler(config, module, op_axis, loop, mesh)(sharding.replicate(mesh, params), operator, y, keys)
        arrays[f"bench_{batch}_{loop}"] = np.asarray(out["sample"])
        placement[f"{batch}_{loop}"] = {"mesh": mesh.size, "y": _placement_devices(y),
                                        "sample": _placement_devices(out["sample"])}
    return placement


GGDM_SETTINGS = dict(sigma=0.1, beta_coef=1.0, beta=0.0, rounds=4, batch=4, top_k=4, seeds=(1234, 2345, 3456),
                     finetune=dict(enabled=False, lr=1e-6, start_round=0, rounds=-1))


def _ggdm_history():
    """experiments.ggdm.run_one (Algorithm 1, G_loss, oracle score): {metric: (rounds + 1, seeds)}, seed placement."""

    from experiments import ggdm
    from jaxinv.reward.schedule import make_schedule
    from jaxinv.reward.simulations import make_problem
    from jaxinv.reward.training import build_score

    placed = []
    shard_batch = ggdm.sharding.shard_batch
    ggdm.sharding.shard_batch = lambda mesh, tree: placed.append(shard_batch(mesh, tree)) or placed[-1]
    problem = make_problem("linear_latent", "quadratic_theta2",
                           os.path.join(ggdm.DATA_DIR, "linear_latent_hyperparameters.npz"))
    schedule = make_schedule(20)
    eps_fn, params = build_score("oracle", schedule, 64, None, A=problem.A)
    hist, v_step = ggdm.run_one(GGDM_SETTINGS, problem, schedule, eps_fn, params, "v2", 0.2)
    keys = placed[0]
    return hist, {"compiled": v_step._cache_size(), "keys_shape": list(keys.shape),
                  "keys_devices": len(keys.sharding.device_set),
                  "keys_rows": [s.data.shape[0] for s in keys.addressable_shards]}


def _child_ggdm(result_path):
    hist, facts = _ggdm_history()
    np.savez(result_path + ".npz", **hist)
    with open(result_path + ".json", "w") as f:
        json.dump(facts, f)


# ---------------------------------------------------------------- parent (pytest)
# jaxinv turns XLA:CPU's YNNPACK convolutions off (jaxinv/__init__.py); Eigen's multi-threaded
# convolutions that replace them sum in an order that depends on how a process's thread pool splits
# the work, so 2 processes x 2 devices and 1 process x 4 devices then agree to ~1e-5, not bit for
# bit. The children keep the YNNPACK kernels (the default of jaxlib 0.10, deterministic here), so
# the comparison below tests the sharding itself.
YNN_CONVOLUTIONS = "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution"


def _env(devices, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_", "OMPI_", "XLA_"))}
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} {YNN_CONVOLUTIONS}",
               PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""), **extra)
    return env


def _spawn(workdir, tag, devices, **extra):
    result = os.path.join(workdir, tag)
    cmd = [sys.executable, os.path.abspath(__file__), "run", str(workdir), result]
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(devices, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True), result


def _finish(proc, timeout=240):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def _load(result, process=0):
    with open(f"{result}.{process}.json") as f:
        info = json.load(f)
    return info, dict(np.load(f"{result}.{process}.npz"))


def _png(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same two runs (DPS, CoDPS+) on 1 device, then on 4 devices of one process.

    Made once per test session: under pytest-xdist the first worker runs them and the others
    wait for its record (`done.json` in the session's shared temporary root).
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    workdir, done = root / "sharded_runs", root / "sharded_runs" / "done.json"
    try:
        os.makedirs(workdir)
    except FileExistsError:
        deadline = time.monotonic() + 900
        while not done.exists():
            assert time.monotonic() < deadline, "the sharded runs of another worker did not finish"
            time.sleep(1)
    else:
        results = {}
        try:
            for tag, devices in (("one", 1), ("four", 4)):   # "one" first: it writes the checkpoint and images
                proc, results[tag] = _spawn(workdir, tag, devices)
                results[tag + "_log"] = _finish(proc)
        except BaseException as e:
            results = {"error": f"{type(e).__name__}: {e}"[-4000:]}
            raise
        finally:
            done.write_text(json.dumps(results))
    results = json.loads(done.read_text())
    assert "error" not in results, results.get("error")
    return workdir, results


def _csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def assert_residuals_agree(actual, expected):
    """Sweep residuals ||y - A s|| of two layouts with the same y: |change| <= ||A||_2 ||ds||_2, with
    ||A||_2 <= 1 (antialiased downsampling) and ||ds||_2 <= sqrt(n) max |ds|, plus the norm's own rounding."""
    samples, residual = actual["sweep_samples"], actual["sweep_residual"]
    ds = np.abs(samples - expected["sweep_samples"]).reshape(*residual.shape, -1).max(axis=-1)
    bound = np.sqrt(samples[0, 0, 0].size) * ds + ROUNDING_RTOL * expected["sweep_residual"]
    assert (np.abs(residual - expected["sweep_residual"]) <= bound).all()


def _mean_psnr(labels, samples):
    """Mean PSNR of the 8-bit images of `samples` (images, seeds, ...) against uint8 `labels`."""
    from jaxinv.io.run_dir import to_uint8
    from jaxinv.metrics import psnr

    return float(np.mean([psnr(labels[i] / 255.0, to_uint8(s).astype(np.float32) / 255.0)
                          for i in range(len(labels)) for s in samples[i]]))


def test_four_devices_equal_one_device(runs):
    """4 devices match 1 device to float32 rounding (ROUNDING_RTOL); each run writes its own rows.

    Not bit for bit, and not because of cross-device reductions (rows never meet): XLA compiles a
    different program for a (4 devices x 1 row) batch than for one device, and its algebraic
    simplifier then rewrites the per-step scalar arithmetic and picks matmul/convolution kernels
    differently (e.g. x * (1/y) folded into x / y in one program only). Equal device layouts agree
    bit for bit (`test_two_processes_equal_four_devices`), and so do repeated runs. The PNGs and
    metrics are compared through the floats they come from: a float within rounding of an 8-bit
    level boundary may round either way, so PNGs of two layouts may differ by a level.
    """
    from jaxinv.io.run_dir import to_uint8
    from jaxinv.metrics import psnr

    _, results = runs
    one, one_arrays = _load(results["one"])
    four, four_arrays = _load(results["four"])
    for solver in RUNS:
        y1, y4 = one_arrays[f"{solver}_y"], four_arrays[f"{solver}_y"]
        s1, s4 = one_arrays[f"{solver}_samples"], four_arrays[f"{solver}_samples"]
        assert s1.shape == (len(IMAGES), 1, 32, 32, 3) and np.isfinite(s1).all() and s1.std() > 0.1
        assert_rounding_close(y4, y1, f"{solver} y")
        assert_rounding_close(s4, s1, f"{solver} samples")
        (dir1,), (dir4,) = one["runs"][solver]["run_dirs"], four["runs"][solver]["run_dirs"]
        for run_dir, samples in ((dir1, s1), (dir4, s4)):
            rows = _csv(os.path.join(run_dir, "metrics.csv"))
            assert [r["name"] for r in rows] == list(IMAGES)
            for i, (name, row) in enumerate(zip(IMAGES, rows)):   # image i's row, PNGs and sample
                np.testing.assert_array_equal(_png(os.path.join(run_dir, "label", f"{name}.png")),
                                              _png(os.path.join(dir1, "label", f"{name}.png")))
                recon = _png(os.path.join(run_dir, "recon", f"{name}.png"))
                np.testing.assert_array_equal(recon, to_uint8(samples[i, 0]))
                label = _png(os.path.join(run_dir, "label", f"{name}.png"))
                expected = float(psnr(label.astype(np.float32) / 255, recon.astype(np.float32) / 255))
                assert float(row["psnr"]) == pytest.approx(expected, abs=1e-4)
        # residual ||y - A s||: |change| <= ||dy|| + ||A|| ||ds|| with ||A||_2 <= 1 (a mask, an
        # antialiased downsampling), each norm at most sqrt(n) times the largest difference
        n = s1[0].size
        dyds = np.sqrt(n) * (np.abs(y4 - y1).max() + np.abs(s4 - s1).max())
        for r1, r4 in zip(_csv(os.path.join(dir1, "metrics.csv")), _csv(os.path.join(dir4, "metrics.csv"))):
            res1 = float(r1["residual"])
            assert abs(float(r4["residual"]) - res1) <= dyds + ROUNDING_RTOL * res1
        ex1 = json.load(open(os.path.join(dir1, "summary.json")))["execution"]
        ex4 = json.load(open(os.path.join(dir4, "summary.json")))["execution"]
        config_bs = int(RUNS[solver][1][-1].rsplit("=", 1)[1])
        assert ex1 == {"num_devices": 1, "process_count": 1, "local_devices": 1, "mesh_axis": "data",
                       "platform": "cpu", "batch_size": config_bs, "per_device_batch": config_bs,
                       "config_batch_size": config_bs, "loop": "host"}
        assert ex4 == {**ex1, "num_devices": 4, "local_devices": 4, "batch_size": 4, "per_device_batch": 1}
    assert "batch 4 (data.batch_size 2 rounded up) = 1 per device" in results["four_log"]


def test_inputs_sharded_over_four_devices(runs):
    _, results = runs
    four, _ = _load(results["four"])
    row = lambda shape: [[[1, *shape], [i]] for i in range(4)]  # noqa: E731  (one row per device)
    for solver in RUNS:
        placements = four["runs"][solver]["placement"]
        assert len(placements) == 1   # 4 images = one batch of 4 (CoDPS+: batch_size 2 rounded up)
        p = placements[0]
        assert p["images"] == {"devices": 4, "replicated": False, "shards": row([32, 32, 3])}
        assert p["indices"] == {"devices": 4, "replicated": False, "shards": row([])}
        assert p["params"]["devices"] == 4 and p["params"]["replicated"]
        if solver == "codps_plus":     # per-image masks travel with their images
            assert p["operator"] == [{"devices": 4, "replicated": False, "shards": row([32, 32, 1])}]
        else:                          # the shared SR operator has no array leaves or is replicated
            assert all(o["devices"] == 4 and o["replicated"] for o in p["operator"])
    one, _ = _load(results["one"])
    assert one["runs"]["codps_plus"]["batches"] == 2 and one["runs"]["dps"]["batches"] == 1
    assert one["runs"]["dps"]["placement"][0]["images"]["devices"] == 1


def test_indivisible_batch_is_refused(runs):
    _, results = runs
    four, _ = _load(results["four"])
    assert four["padded_3"] == 4
    message = four["indivisible_error"]
    assert "['images']" in message and "3 is not divisible by the 4 devices" in message and "pad it to 4" in message


def test_process_local_feeding_and_batch_coupled_collectives(runs):
    _, results = runs
    four, _ = _load(results["four"])
    assert four["local_batch_equal"] and four["local_batch_shards"] == [0, 2, 4, 6]
    assert four["coupled_error"] < 1e-6     # the psum over the vmap axis became a 4-device all-reduce


def test_two_processes_equal_four_devices(runs):
    """2 processes x 2 CPU devices (jax.distributed on localhost) = 1 process x 4 devices, bit for bit.

    Only process 0 writes files; every process gets the gathered outputs.
    """
    workdir, results = runs
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    procs = [_spawn(workdir, "two", 2, JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2",
                    JAX_PROCESS_ID=str(i)) for i in range(2)]
    logs = [_finish(p) for p, _ in procs]
    four, four_arrays = _load(results["four"])
    info = [_load(procs[0][1], i) for i in range(2)]
    for solver in RUNS:
        for _, arrays in info:
            np.testing.assert_array_equal(arrays[f"{solver}_samples"], four_arrays[f"{solver}_samples"])
            np.testing.assert_array_equal(arrays[f"{solver}_y"], four_arrays[f"{solver}_y"])
        (dir2,), (dir4,) = info[0][0]["runs"][solver]["run_dirs"], four["runs"][solver]["run_dirs"]
        assert info[1][0]["runs"][solver]["run_dirs"] == []
        for name in IMAGES:
            np.testing.assert_array_equal(_png(os.path.join(dir2, "recon", f"{name}.png")),
                                          _png(os.path.join(dir4, "recon", f"{name}.png")))
        with open(os.path.join(dir2, "metrics.csv")) as f2, open(os.path.join(dir4, "metrics.csv")) as f4:
            assert f2.read() == f4.read()
        ex = json.load(open(os.path.join(dir2, "summary.json")))["execution"]
        assert (ex["num_devices"], ex["process_count"], ex["local_devices"], ex["batch_size"]) == (4, 2, 2, 4)
        p = info[1][0]["runs"][solver]["placement"][0]["images"]   # process 1 holds rows 2 and 3
        assert p == {"devices": 4, "replicated": False, "shards": [[[1, 32, 32, 3], [2]], [[1, 32, 32, 3], [3]]]}
    # The sweep: every process gets the gathered samples; process 0 alone writes its run directory.
    # Not bit for bit, unlike the runner's rows: each device samples 4 (setting, seed) rows of its
    # image in one compiled scan, and the two layouts differ by float32 rounding (ROUNDING_RTOL; not
    # traced to one kernel, the per-process thread pools are the likely cause).
    for _, arrays in info:
        assert_rounding_close(arrays["sweep_y"], four_arrays["sweep_y"], "sweep y")
        assert_rounding_close(arrays["sweep_samples"], four_arrays["sweep_samples"], "sweep samples")
        assert_residuals_agree(arrays, four_arrays)
        np.testing.assert_array_equal(arrays["sweep_samples"], info[0][1]["sweep_samples"])
    assert info[0][0]["sweep_run_dir"] and info[1][0]["sweep_run_dir"] is None
    assert "wrote " in logs[0] and "wrote " not in logs[1]
    for i, (facts, _) in enumerate(info):    # process i fed only rows [4i, 4i + 4) of 8
        assert facts["local_batch_equal"] and facts["local_batch_shards"] == [4 * i, 4 * i + 2]
        assert facts["coupled_error"] < 1e-6
    assert len(os.listdir(os.path.join(workdir, "out_4_2"))) == len(RUNS)   # one run directory per run, not per process


def test_ggdm_seeds_over_four_devices_equal_one_device(tmp_path):
    """experiments.ggdm: 3 seeds split over 4 devices (one repeat fills the axis) = the 1-device run."""
    result = str(tmp_path / "ggdm")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "ggdm", result], cwd=ROOT, env=_env(4),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    one, one_facts = _ggdm_history()          # this process: one device
    _finish(proc)
    four = dict(np.load(result + ".npz"))
    with open(result + ".json") as f:
        four_facts = json.load(f)
    assert one_facts == {"compiled": 1, "keys_shape": [3, 2], "keys_devices": 1, "keys_rows": [3]}
    assert four_facts == {"compiled": 1, "keys_shape": [4, 2], "keys_devices": 4, "keys_rows": [1, 1, 1, 1]}
    for name, values in one.items():
        assert four[name].shape == values.shape == (GGDM_SETTINGS["rounds"] + 1, 3)
        # float32 rounding only (different compiled programs, as in test_four_devices_equal_one_device)
        np.testing.assert_allclose(four[name], values, rtol=1e-5, atol=1e-6, err_msg=name)
    assert len(set(np.round(one["reward"][-1], 6))) == 3      # the seeds differ, so rows were not mixed up


def test_sweep_and_bench_over_four_devices_equal_one_device(runs):
    """experiments.sweep pads 3 images to 4 rows (one per device); the bench's batches split over the
    devices that divide them. Both equal the 1-device outputs to rounding (tests/numerics.py)."""
    workdir, results = runs
    (one, one_arrays), (four, four_arrays) = _load(results["one"]), _load(results["four"])
    s1, s4 = (json.load(open(os.path.join(r["sweep_run_dir"], "summary.json"))) for r in (one, four))
    assert (s1["execution"]["num_devices"], s1["execution"]["padded_images"]) == (1, 3)
    assert (s4["execution"]["num_devices"], s4["execution"]["padded_images"]) == (4, 4)
    assert s4["traces"] == 1 and s4["images"] == list(IMAGES[:3])
    assert four_arrays["sweep_samples"].shape == (2, 4, 2, 32, 32, 3)      # settings, padded images, seeds
    four_rows = {k: four_arrays[k][:, :3] for k in ("sweep_samples", "sweep_residual")}
    assert_rounding_close(four_rows["sweep_samples"], one_arrays["sweep_samples"], "sweep samples")
    assert_residuals_agree(four_rows, one_arrays)
    labels = np.stack([_png(os.path.join(workdir, "images", f"{n}.png")) for n in IMAGES[:3]])
    for summary, samples in ((s1, one_arrays["sweep_samples"]), (s4, four_rows["sweep_samples"])):
        for setting, entry in enumerate(summary["per_setting"]):   # each setting's summary is of its own rows
            assert entry["psnr"]["n"] == 6
            assert entry["psnr"]["mean"] == pytest.approx(_mean_psnr(labels, samples[setting]), abs=1e-4)
    assert four["bench"]["2_host"] == {"mesh": 2, "y": [2], "sample": [2]}
    assert four["bench"]["4_scan"] == {"mesh": 4, "y": [4], "sample": [4]}
    assert one["bench"]["4_scan"]["mesh"] == 1
    for key in ("2_host", "4_scan", "4_host"):
        assert_rounding_close(four_arrays[f"bench_{key}"], one_arrays[f"bench_{key}"], f"bench {key}")
    assert_rounding_close(four_arrays["bench_4_host"], four_arrays["bench_4_scan"], "bench host loop vs scan")


def test_initialize_distributed_is_a_noop_without_environment():
    import jax

    from jaxinv import sharding

    assert sharding.initialize_distributed({}) is False
    assert sharding.initialize_distributed({"SLURM_JOB_ID": "1", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "1",
                                            "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}) is False
    assert not jax.distributed.is_initialized() and jax.process_count() == 1
    assert sharding.distributed_launcher({}) is None
    assert sharding.distributed_launcher({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2",
                                          "JAX_PROCESS_ID": "1"}) == "env"
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2", "SLURM_PROCID": "1",
             "SLURM_LOCALID": "0"}
    assert sharding.distributed_launcher(slurm) == "slurm"
    assert sharding.distributed_launcher({k: v for k, v in slurm.items() if k != "SLURM_STEP_NODELIST"}) is None
    assert sharding.distributed_launcher({"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1",
                                          "OMPI_COMM_WORLD_SIZE": "4"}) == "ompi"
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES, JAX_PROCESS_ID missing"):
        sharding.distributed_launcher({"JAX_COORDINATOR_ADDRESS": "h:1"})


def test_padded_batch_size_and_one_device_mesh():
    import jax

    from jaxinv import sharding

    assert [sharding.padded_batch_size(b, 4) for b in (1, 3, 4, 5, 8)] == [4, 4, 4, 8, 8]
    with pytest.raises(ValueError, match="batch_size must be positive"):
        sharding.padded_batch_size(0, 4)
    mesh = sharding.data_mesh()
    assert mesh.axis_names == ("data",) and mesh.size == jax.device_count()
    tree = {"x": np.arange(6.0 * mesh.size).reshape(3 * mesh.size, 2)}
    placed = sharding.shard_batch(mesh, tree)
    np.testing.assert_array_equal(sharding.to_host(placed)["x"], tree["x"])
    assert sharding.process_rows(mesh, 3 * mesh.size) == slice(0, 3 * mesh.size)
    with pytest.raises(ValueError, match="scalar"):
        sharding.shard_batch(mesh, {"s": np.float32(1.0)})


if __name__ == "__main__" and sys.argv[1:2] == ["run"]:
    sys.path.insert(0, ROOT)
    from jaxinv.sharding import initialize_distributed

    initialize_distributed()
    _child_run(sys.argv[2], sys.argv[3])
elif __name__ == "__main__" and sys.argv[1:2] == ["ggdm"]:
    sys.path.insert(0, ROOT)
    _child_ggdm(sys.argv[2])
