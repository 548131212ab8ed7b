"""Record a DiffPIR deblurring run: main_ddpir_deblur.py's loop (generate_mode DiffPIR, pred_xstart,
sub_1_analytic) transcribed step for step around the original's own functions (utils_model.model_fn,
find_nearest, utils_sisr.pre_calculate / data_solution), every torch.randn_like draw recorded in call order.
--data-precision float64 runs the data step and the schedule arithmetic in float64 (network float32)."""
import argparse, json, sys, types
import numpy as np, torch
from scipy import ndimage

p = argparse.ArgumentParser()
p.add_argument("--diffpir-repo", required=True, help="a checkout of yuanzhi-zhu/DiffPIR (111d26e)")
p.add_argument("--fixtures", required=True, help="the shared fixtures folder (adm/, diffpir/)")
a, rest = p.parse_known_args()
sys.path.insert(0, a.diffpir_repo)
# utils_model imports torchvision only for make_grid, which the loop never calls
tv = types.ModuleType("torchvision"); tvu = types.ModuleType("torchvision.utils"); tvu.make_grid = None
sys.modules["torchvision"] = tv; sys.modules["torchvision.utils"] = tvu
from guided_diffusion.script_util import create_model_and_diffusion, model_and_diffusion_defaults
from utils import utils_model, utils_sisr as sr

p.add_argument("--inputs", help="take x_H, kernel, y, z_init, z_loop_* from this npz (the shared fixture)")
p.add_argument("--spec"); p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=3); p.add_argument("--iter-num", type=int, default=6)
p.add_argument("--iter-num-u", type=int, default=2); p.add_argument("--eta", type=float, default=0.4)
p.add_argument("--zeta", type=float, default=0.5); p.add_argument("--lam", type=float, default=3.0)
p.add_argument("--noise", type=float, default=0.03); p.add_argument("--kernel-std", type=float, default=1.6)
p.add_argument("--skip-type", default="uniform"); p.add_argument("--data-precision", default="float64")
a = p.parse_args()
F = a.fixtures.rstrip("/") + "/"
cfg = json.load(open(F + "adm/adm_tiny_a_config.json"))
defs = model_and_diffusion_defaults(); defs.update(cfg); defs.update(diffusion_steps=1000, noise_schedule="linear", learn_sigma=True)
model, diffusion = create_model_and_diffusion(**defs)
model.load_state_dict(torch.load(F + "adm/adm_tiny_a.pt", map_location="cpu")); model.eval()
for q in model.parameters(): q.requires_grad = False
dt = torch.float64 if a.data_precision == "float64" else torch.float32
if a.inputs:
    d = dict(np.load(a.inputs)); spec = json.load(open(a.spec))
    lam, zeta, eta, noise = spec["lambda_effective"], spec["zeta_effective"], spec["eta"], spec["noise_level_img"]
    iter_num, U, skip_type = spec["iter_num"], spec["iter_num_U"], spec["skip_type"]
    x_H, k, y = d["x_H"], np.squeeze(d["kernel"]), d["y"]
    draws = iter([d["z_init"]] + [d[f"z_loop_{j:03d}"] for j in range(10**4) if f"z_loop_{j:03d}" in d])
    randn = lambda like: torch.from_numpy(next(draws)).to(dt)
else:
    lam, zeta, eta, noise, iter_num, U, skip_type = a.lam, a.zeta, a.eta, a.noise, a.iter_num, a.iter_num_u, a.skip_type
    base = np.load(F + "diffpir/diffpir_tiny_deblur.npz")["x_H"]
    x_H = np.ascontiguousarray(np.swapaxes(base, 0, 1))                   # another image: the fixture's (HWC uint8), transposed
    r = np.arange(7) - 3; g = np.exp(-r**2 / (2 * a.kernel_std**2)); k = np.outer(g, g); k = (k / k.sum()).astype(np.float32)
    img_L = ndimage.convolve(x_H, k[..., None], mode="wrap").astype(np.float32) / 255.0   # uint8 in, as the script
    np.random.seed(0); img_L = img_L * 2 - 1; img_L += np.random.normal(0, noise * 2, img_L.shape); img_L = img_L / 2 + 0.5
    y = np.transpose(img_L, (2, 0, 1))[None].astype(np.float32)
    torch.manual_seed(a.seed); rec_draws = []
    def randn(like):
        z = torch.randn(like.shape, dtype=torch.float32); rec_draws.append(z.numpy().copy()); return z.to(dt)
    spec = None
T = 1000
betas = torch.from_numpy(np.linspace(1e-4, 2e-2, T, dtype=np.float32)).to(dt); alphas = 1 - betas
ac = np.cumprod(alphas.cpu(), axis=0); s = torch.sqrt(ac); b = torch.sqrt(1. - ac); red = torch.div(b, s)
sigma = max(0.001, noise)
sigmas = torch.tensor([red[T - 1 - i] for i in range(T)], dtype=dt)
rhos = torch.tensor([lam * sigma**2 / (b[i] / s[i])**2 for i in range(T)], dtype=dt)
yt = torch.from_numpy(y).to(dt)
t_start = T - 1
t_y = utils_model.find_nearest(red, 2 * noise)
sae = s[t_start] / s[t_y]
x = sae * (2 * yt - 1) + torch.sqrt(b[t_start]**2 - sae**2 * b[t_y]**2) * randn(yt)
FB, FBC, F2B, FBFy = sr.pre_calculate(yt, torch.from_numpy(k).to(dt)[None, None], 1)
if skip_type == "uniform":
    skip = T // iter_num; seq = [i * skip for i in range(iter_num)] + ([T - 1] if skip > 1 else [])
else:
    seq = [int(v) for v in np.sqrt(np.linspace(0, T**2, iter_num))]; seq[-1] -= 1
for i in range(len(seq)):
    if U > 1 and i == len(seq) - 1:
        break   # the script's last step raises IndexError (seq[i + 1]) when iter_num_U > 1; x is final here
    t_i = utils_model.find_nearest(red, sigmas[seq[i]].cpu().numpy())
    for u in range(U):
        x0 = utils_model.model_fn(x.float(), noise_level=sigmas[seq[i]].cpu().numpy() * 255, model_out_type="pred_xstart",
                                  model_diffusion=model, diffusion=diffusion, alphas_cumprod=ac).to(dt)
        if seq[i] != seq[-1]:
            x0p = sr.data_solution(x0 / 2 + 0.5, FB, FBC, F2B, FBFy, rhos[t_i].repeat(1, 1, 1, 1), 1) * 2 - 1
            x0 = x0 + 1.0 * (x0p - x0)
        if not (seq[i] == seq[-1] and u == U - 1):
            t_im1 = utils_model.find_nearest(red, sigmas[seq[i + 1]].cpu().numpy())
            eps = (x - s[t_i] * x0) / b[t_i]
            es = eta * b[t_im1] / b[t_i] * torch.sqrt(betas[t_i])
            z1 = randn(x); z2 = randn(x)
            x = s[t_im1] * x0 + np.sqrt(1 - zeta) * (torch.sqrt(b[t_im1]**2 - es**2) * eps + es * z1) + np.sqrt(zeta) * b[t_im1] * z2
        if u < U - 1 and seq[i] != seq[-1]:
            sa = s[t_i] / s[t_im1]
            x = sa * x + torch.sqrt(b[t_i]**2 - sa**2 * b[t_im1]**2) * randn(x)
out = x.float().numpy()
if spec is None:
    arrays = {"kernel": k[None, None], "out": out, "x_H": x_H, "y": y, "z_init": rec_draws[0]}
    arrays.update({f"z_loop_{j:03d}": z for j, z in enumerate(rec_draws[1:])})
    spec = {"method": "DiffPIR", "image_size": 32, "iter_num": iter_num, "iter_num_U": U, "kernel_size": 7,
            "kernel_std": a.kernel_std, "noise_level_img": noise, "lambda_effective": lam, "zeta_effective": zeta,
            "eta": eta, "skip_type": skip_type, "seed": a.seed, "loop_draws": len(rec_draws) - 1}
else:
    arrays = dict(d); arrays["out"] = out
    print("change vs the recorded out", np.abs(out - d["out"]).max())
spec = dict(spec, data_step_precision=a.data_precision, arrays_in_npz=sorted(arrays))
np.savez(a.out + ".npz", **arrays); json.dump(spec, open(a.out + ".json", "w"), indent=1)
print("max|out|", np.abs(out).max(), "draws", spec.get("loop_draws"))
