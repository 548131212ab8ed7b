"""GGDM Algorithm 1 replay: our guided sampler and round logic against the original code's batches."""
from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np

HELP = ("Replay a GGDMOptim Algorithm-1 fixture (oracle ε, recorded start and per-step noise); "
        "max |ours − samples| over every round")
THRESHOLD = 1e-3


def add_arguments(parser):
    parser.add_argument("--fixture", required=True, help="npz with starts (R+1,B,D), noises (R+1,T,B,D), samples (R+1,B,D)")
    parser.add_argument("--spec", required=True, help="the fixture's JSON (guidance, reward, delta, rounds, batch, sigma, beta_coef)")
    parser.add_argument("--hyperparameters", required=True, help="linear_latent_hyperparameters.npz")


def replay(fixture, spec: dict, hyperparameters) -> np.ndarray:
    """Our batches after rounds 0..R, driven by the fixture's recorded randomness."""
    from jaxinv.reward.algorithms import algorithm1_round, unguided_batch
    from jaxinv.reward.guidance import GuidanceConfig
    from jaxinv.reward.oracle import oracle_eps, oracle_params
    from jaxinv.reward.schedule import make_schedule
    from jaxinv.reward.simulations import make_problem

    for name in ("guidance", "reward", "delta", "rounds", "batch"):
        if name not in spec:
            raise ValueError(f"spec lacks {name!r}")
    with np.load(fixture) as f:
        starts, noises = np.asarray(f["starts"], np.float32), np.asarray(f["noises"], np.float32)
    R, B = int(spec["rounds"]), int(spec["batch"])
    if starts.shape[0] != R + 1 or starts.shape[1] != B or noises.shape[:1] != (R + 1,):
        raise ValueError(f"fixture shapes starts {starts.shape}, noises {noises.shape} do not match "
                         f"rounds={R}, batch={B} of the spec")
    problem = make_problem("linear_latent", spec["reward"], hyperparameters)
    sched = make_schedule(noises.shape[1])
    cfg = GuidanceConfig(spec["guidance"], float(spec.get("sigma", 0.1)), float(spec.get("beta_coef", 1.0)),
                         spec.get("beta"))
    params = oracle_params(problem.A)
    eps_fn = functools.partial(oracle_eps, sched=sched)
    eps_fn = lambda p, x, t, _f=eps_fn: _f(p, x, t)
    first = jax.jit(lambda x, n: unguided_batch(eps_fn, params, sched, x, n))
    step = jax.jit(lambda z, x, n: algorithm1_round(eps_fn, params, sched, cfg, problem.reward,
                                                    float(spec["delta"]), z, x, n)[0])
    z = first(jnp.asarray(starts[0]), jnp.asarray(noises[0]))
    out = [np.asarray(z)]
    for r in range(1, R + 1):
        z = step(z, jnp.asarray(starts[r]), jnp.asarray(noises[r]))
        out.append(np.asarray(z))
    return np.stack(out)


def run(args):
    with open(args.spec) as f:
        spec = json.load(f)
    ours = replay(args.fixture, spec, args.hyperparameters)
    with np.load(args.fixture) as f:
        ref = np.asarray(f["samples"])
    if ref.shape != ours.shape:
        raise ValueError(f"samples shape {ref.shape} differs from the replay's {ours.shape}")
    for r in range(ref.shape[0]):
        print(f"round {r}: max_abs_err={np.max(np.abs(ours[r] - ref[r])):.3g} (|samples| max {np.max(np.abs(ref[r])):.3g})")
    return float(np.max(np.abs(ours - ref))), THRESHOLD
