"""DPS replay: the original `p_sample_loop` with conditioning `ps`, from a fixture's x_T and recorded noise."""
from __future__ import annotations

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
    from jaxinv.diffusion import make_schedule
    from jaxinv.solvers import reverse_steps, run

    spec, arrays = load_fixture(args)
    x_T = nhwc(arrays["x_T"])
    schedule = make_schedule(spec["diffusion_steps"], spec["noise_schedule"], spec["timestep_respacing"])
    if "timestep_map" in arrays and not np.array_equal(np.asarray(schedule.timestep_map), arrays["timestep_map"]):
        raise ValueError("respaced timestep_map differs from the fixture's")
    operator = build_operator(spec, arrays, x_T.shape)
    y = nhwc(arrays["y"])
    noise = np.moveaxis(np.asarray(arrays["z_sample"], np.float32)[:, 0], 1, -1)
    module, params, flax_eps_model = load_model(args.checkpoint, args.model_config)

    @jax.jit
    def sample(params, x_T, y, noise):
        solver = make_solver(flax_eps_model(module, params), schedule, operator, y, spec)
        xs = {"t": reverse_steps(schedule.num_steps), "z": noise}
        return run(solver, x_T, xs)["sample"]

    out = np.asarray(sample(params, x_T, y, noise))
    return float(np.abs(out - nhwc(arrays["out"])).max())


def run(args):
    from jaxinv.solvers import dps_solver

    def make(eps_model, schedule, operator, y, spec):
        if spec.get("conditioning", "ps") != "ps":
            raise ValueError(f"not a DPS fixture: conditioning {spec.get('conditioning')!r}")
        return dps_solver(eps_model, schedule, operator, y, scale=float(spec["scale"]),
                          var_type=spec.get("model_var_type", "learned_range"),
                          clip_denoised=bool(spec.get("clip_denoised", True)))

    return replay(args, make), THRESHOLD
