"""DPS replay: the original `p_sample_loop` with conditioning `ps`, from a fixture's x_T and recorded noise."""
from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np

HELP = "replay a DPS fixture (x_T, recorded noise) with jaxinv.solvers.dps and compare `out`"
THRESHOLD = 1e-3


def add_arguments(parser) -> None:
    parser.add_argument("--fixture", required=True, help="npz with x_T, z_sample, y, out (NCHW), mask/kernel if any")
    parser.add_argument("--spec", required=True, help="the fixture's JSON (operator, respacing, scale, ...)")
    parser.add_argument("--checkpoint", required=True, help="guided-diffusion state dict (.pt) the fixture used")
    parser.add_argument("--model-config", required=True, help="its create_model kwargs (JSON) or preset name")


def nhwc(a) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) torch layout -> (H, W, C)."""
    a = np.asarray(a, np.float32)
    return np.moveaxis(a[0] if a.ndim == 4 else a, -3, -1)


def operator_spec(spec: dict) -> tuple[str, dict]:
    """(name, params) from a fixture JSON: `operator` is a name (+ `operator_params`) or a dict with `name`."""
    op = spec["operator"]
    if isinstance(op, dict):
        params = {k: v for k, v in op.items() if k != "name"}
        return op["name"], params
    params = dict(spec.get("operator_params") or {})
    for key in ("scale_factor", "kernel_size", "intensity"):
        if spec.get(key) is not None:
            params.setdefault(key, spec[key])
    return op, params


def build_operator(spec: dict, arrays, image_shape):
    """The forward operator of a DPS/CoDPS fixture; masks and kernels come from the npz."""
    from jaxinv.operators import Blur, Inpainting, make_operator

    name, params = operator_spec(spec)
    if name in ("super_resolution", "down_sampling"):
        return make_operator("super_resolution", image_shape, scale=int(params["scale_factor"]))
    if name == "codps_super_resolution":
        return make_operator("codps_super_resolution", image_shape, scale=int(params.get("scale_factor", 4)))
    if name in ("motion_blur", "gaussian_blur"):
        padding = params.get("padding", "circular" if "codps" in spec.get("conditioning", "").lower() else "reflect")
        if "kernel" in arrays:
            return Blur.from_kernel(image_shape, np.asarray(arrays["kernel"], np.float32), padding)
        if name == "gaussian_blur":
            return make_operator("gaussian_blur", image_shape, kernel_size=int(params["kernel_size"]),
                                 sigma=float(params["intensity"]), padding=padding)
        raise ValueError(f"fixture for {name} must store its kernel as `kernel` (motion kernels are random)")
    if name.startswith("inpainting"):
        if "mask" not in arrays:
            raise ValueError("inpainting fixture must store its mask as `mask` (1, 1, H, W)")
        return Inpainting.create(image_shape, mask=np.asarray(arrays["mask"]).reshape(image_shape[:2]))
    if name == "phase_retrieval":
        return make_operator("phase_retrieval", image_shape, oversample=float(params.get("oversample", 2.0)))
    raise ValueError(f"unsupported fixture operator {name!r}")


def load_model(checkpoint: str, model_config: str):
    """eps_model(x, t) of the converted guided-diffusion checkpoint."""
    from convert.adm import convert_state_dict
    from convert.torch_io import load_state_dict
    from jaxinv.diffusion import flax_eps_model
    from jaxinv.models.adm import ADMUNet, resolve_config

    params = convert_state_dict(load_state_dict(checkpoint), model_config)
    module = ADMUNet(resolve_config(model_config))
    return module, jax.tree_util.tree_map(jnp.asarray, params), flax_eps_model


def load_fixture(args):
    spec = json.loads(open(args.spec).read())
    arrays = dict(np.load(args.fixture))
    return spec, arrays


def replay(args, make_solver):
    """Shared replay: build schedule/operator/model, run `make_solver(...)` under one jit, compare `out`."""
    return Replay(args, make_solver).error()


class Replay:
    """A fixture's schedule, operator, model and recorded inputs, and its solver run under one jit."""

    def __init__(self, args, make_solver):
        from jaxinv.diffusion import make_schedule

        spec, arrays = load_fixture(args)
        self.spec, self.x_T, self.expected = spec, nhwc(arrays["x_T"]), nhwc(arrays["out"])
        self.schedule = make_schedule(spec["diffusion_steps"], spec["noise_schedule"], spec["timestep_respacing"])
        if "timestep_map" in arrays and not np.array_equal(np.asarray(self.schedule.timestep_map),
                                                          arrays["timestep_map"]):
            raise ValueError("respaced timestep_map differs from the fixture's")
        self.operator = build_operator(spec, arrays, self.x_T.shape)
        self.y = nhwc(arrays["y"])
        self.noise = np.moveaxis(np.asarray(arrays["z_sample"], np.float32)[:, 0], 1, -1)
        module, self.params, flax_eps_model = load_model(args.checkpoint, args.model_config)
        self.eps_model = lambda params: flax_eps_model(module, params)
        self.make_solver = make_solver

    @property
    def inputs(self) -> dict:
        """The jitted replay's arguments (arguments, not constants XLA could fold)."""
        return {"params": self.params, "x_T": self.x_T, "y": self.y, "noise": self.noise}

    def sample(self, inputs, clip=None, trajectory_every: int = 0):
        """The replayed `run` output; `clip` replaces the spec's clamp (a `predict_x0_from_eps` function)."""
        from jaxinv.solvers import reverse_steps, run

        spec = self.spec if clip is None else {**self.spec, "clip_denoised": clip}
        solver = self.make_solver(self.eps_model(inputs["params"]), self.schedule, self.operator, inputs["y"], spec)
        xs = {"t": reverse_steps(self.schedule.num_steps), "z": inputs["noise"]}
        return run(solver, inputs["x_T"], xs, trajectory_every)

    def error(self) -> float:
        out = jax.jit(lambda inputs: self.sample(inputs)["sample"])(self.inputs)
        return float(np.abs(np.asarray(out) - self.expected).max())


# DPS differentiates through clip(x0_hat, -1, 1), whose derivative jumps at +-1. A recorded
# trajectory passes within 1e-7 to 1e-5 of the clip at a few pixel-steps (dps_tiny_motion: 1.2e-7),
# and JAX and torch round to ~1e-6 apart, so at those near ties a machine may take the other side
# than the recording did, moving the result by 4e-3 to 1e-2 (above THRESHOLD). When the plain
# replay misses, the replay tries both sides at the NEAR_TIES pre-clamp values closest to +-1
# (within NEAR_TIE): the recording's sides reproduce `out` to the usual float32 agreement.
NEAR_TIE = 1e-5
NEAR_TIES = 6


def sided_clamp(flip):
    """clip(x0_hat, -1, 1) whose derivative is torch's (1 on [-1, 1]) except at the pixels of the
    respaced steps where `flip` (steps, H, W, C) is 1, which take the other side."""

    @jax.custom_jvp
    def clamp(x0, flip_t):
        return jnp.clip(x0, -1.0, 1.0)

    @clamp.defjvp
    def clamp_jvp(primals, tangents):
        (x0, flip_t), (dx0, _) = primals, tangents
        passes = (jnp.abs(x0) <= 1.0) != (flip_t > 0)
        return jnp.clip(x0, -1.0, 1.0), jnp.where(passes, dx0, 0.0)

    flip = jnp.asarray(flip, jnp.float32)
    return lambda x0, t: clamp(x0, flip[t])


def near_ties(replay: Replay, count: int = NEAR_TIES, within: float = NEAR_TIE) -> np.ndarray:
    """(respaced t, row, column, channel) of the <= `count` pre-clamp x0_hat closest to +-1 along the
    replayed trajectory, within `within`."""
    from jaxinv.diffusion import p_mean_variance
    from jaxinv.solvers import reverse_steps

    schedule = replay.schedule

    @jax.jit
    def margins(inputs):
        run = replay.sample(inputs, trajectory_every=1)
        starts = jnp.concatenate([inputs["x_T"][None], run["trajectory"][:-1]])   # the iterate each step saw
        eps_model = replay.eps_model(inputs["params"])

        def margin(x, t):
            x0 = p_mean_variance(schedule, eps_model, x, t, "fixed_small", clip_denoised=False)["pred_xstart"]
            return jnp.abs(jnp.abs(x0) - 1.0)

        return jax.vmap(margin)(starts, reverse_steps(schedule.num_steps))

    m = np.asarray(margins(replay.inputs))
    order = np.argsort(m, axis=None)[:count]
    order = order[m.flat[order] < within]
    step_index = np.stack(np.unravel_index(order, m.shape), axis=-1)
    t = schedule.num_steps - 1 - step_index[:, 0]          # row k of the trajectory is respaced t = N-1-k
    return np.concatenate([t[:, None], step_index[:, 1:]], axis=-1)


def errors_over_clamp_sides(replay: Replay, ties, base=None) -> tuple[np.ndarray, np.ndarray]:
    """max_abs_err for each choice of sides at `ties`: (choices (2^k, k) bool, True = flipped; errors (2^k,)).

    `base` (steps, H, W, C) flips pixel-steps of the clamp before the choices (tests); choice 0 flips none.
    """
    choices = np.array(list(itertools.product((False, True), repeat=len(ties))), bool)
    shape = (replay.schedule.num_steps, *replay.x_T.shape)
    flips = np.broadcast_to(np.zeros(shape, np.float32) if base is None else base, (len(choices), *shape)).copy()
    for i, choice in enumerate(choices):
        for (t, *pixel), flipped in zip(ties, choice):
            if flipped:
                flips[(i, t, *pixel)] = 1.0 - flips[(i, t, *pixel)]
    out = jax.jit(jax.vmap(lambda f, inputs: replay.sample(inputs, clip=sided_clamp(f))["sample"],
                           in_axes=(0, None)))(flips, replay.inputs)
    return choices, np.abs(np.asarray(out) - replay.expected).reshape(len(choices), -1).max(axis=1)


def dps_solver_of_spec(eps_model, schedule, operator, y, spec):
    from jaxinv.solvers import dps_solver

    if spec.get("conditioning", "ps") != "ps":
        raise ValueError(f"not a DPS fixture: conditioning {spec.get('conditioning')!r}")
    clip = spec.get("clip_denoised", True)
    return dps_solver(eps_model, schedule, operator, y, scale=float(spec["scale"]),
                      var_type=spec.get("model_var_type", "learned_range"),
                      clip_denoised=clip if callable(clip) else bool(clip))


def run(args):
    replay = Replay(args, dps_solver_of_spec)
    err = replay.error()
    if err >= THRESHOLD and replay.spec.get("clip_denoised", True):
        ties = near_ties(replay)
        if len(ties):
            choices, errors = errors_over_clamp_sides(replay, ties)
            err = float(errors.min())
            print(f"clamp near ties (respaced t, row, column, channel) {ties.tolist()}: the recording's sides "
                  f"(flipped: {choices[errors.argmin()].tolist()}) give max_abs_err={err:.3g}")
    return err, THRESHOLD
