"""Record a DDRM run: the original `functions/denoising.py:efficient_generalized_steps` called as released
with its `SuperResolution` H_functions, on the tiny random ADM of the shared fixtures, every torch.randn_like
of the loop recorded in call order (z_c, z_a, z_b per step). Only the device moves (`.to('cuda')` -> cpu) and
`torchvision.utils` (imported, never called) is stubbed."""
import argparse, json, sys, types
import numpy as np, torch

p = argparse.ArgumentParser()
p.add_argument("--ddrm-repo", required=True, help="a checkout of bahjat-kawar/ddrm (32b6b3c)")
p.add_argument("--fixtures", required=True, help="the shared fixtures folder (adm/, diffpir/ for the image)")
p.add_argument("--out", required=True)
p.add_argument("--ratio", type=int, default=2); p.add_argument("--timesteps", type=int, default=7)
p.add_argument("--eta", type=float, default=0.5); p.add_argument("--etaB", type=float, default=0.7)
p.add_argument("--sigma-0-cli", type=float, default=0.075); p.add_argument("--seed", type=int, default=5)
a = p.parse_args()
sys.path.insert(0, a.ddrm_repo)
tv = types.ModuleType("torchvision"); tvu = types.ModuleType("torchvision.utils")
sys.modules["torchvision"] = tv; sys.modules["torchvision.utils"] = tvu
to = torch.Tensor.to
torch.Tensor.to = lambda self, *args, **kw: to(self, *[x for x in args if x != "cuda"], **kw) if args != ("cuda",) else self
from functions.denoising import efficient_generalized_steps
from functions.svd_replacement import SuperResolution
from guided_diffusion.script_util import create_model

F = a.fixtures.rstrip("/") + "/"
cfg = json.load(open(F + "adm/adm_tiny_a_config.json"))
model = create_model(**{k: cfg[k] for k in ("image_size", "num_channels", "num_res_blocks", "channel_mult", "learn_sigma",
                                            "attention_resolutions", "num_heads", "num_head_channels", "num_heads_upsample",
                                            "use_scale_shift_norm", "dropout", "resblock_updown", "use_fp16",
                                            "use_new_attention_order")})
model.load_state_dict(torch.load(F + "adm/adm_tiny_a.pt", map_location="cpu")); model.eval()
x_H = np.load(F + "diffpir/diffpir_tiny_deblur.npz")["x_H"]                     # (32, 32, 3) uint8
x0 = torch.from_numpy(np.ascontiguousarray(x_H[::-1]).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]  # flipped
betas = torch.from_numpy(np.linspace(1e-4, 2e-2, 1000, dtype=np.float64)).float()
sigma_0 = 2 * a.sigma_0_cli
torch.manual_seed(a.seed)
H = SuperResolution(3, 32, a.ratio, "cpu")
y = H.H(x0); y = y + sigma_0 * torch.randn_like(y)
x_T = torch.randn(1, 3, 32, 32)
skip = 1000 // a.timesteps
seq = list(range(0, 1000, skip))
draws = []
randn_like = torch.randn_like
def recording(t, *args, **kw):
    z = randn_like(t, *args, **kw); draws.append(z.numpy().copy()); return z
torch.randn_like = recording
with torch.no_grad():
    xs, x0s = efficient_generalized_steps(x_T, seq, model, betas, H, y, sigma_0, a.etaB, a.eta, a.eta)
arrays = {"x0": x0.numpy(), "y": y.numpy(), "x_T": x_T.numpy(), "out": xs[-1].numpy(), "x0_pred_last": x0s[-1].numpy(),
          "timesteps": np.asarray(seq), "betas": betas.numpy()}
for k in range(len(seq)):
    for j, name in enumerate("cab"):
        arrays[f"z_{name}_{k:03d}"] = draws[3 * k + j]
np.savez(a.out + ".npz", **arrays)
json.dump({"method": "DDRM", "source": "bahjat-kawar/ddrm 32b6b3c functions/denoising.py:efficient_generalized_steps "
           "(tests/data/ddrm/record_ddrm.py)", "model": "adm_tiny_a", "deg": f"sr{a.ratio}", "image_size": 32,
           "sigma_0_cli": a.sigma_0_cli, "sigma_0": sigma_0, "eta": a.eta, "etaB": a.etaB, "timesteps": a.timesteps,
           "skip": skip, "batch": 1, "seed": a.seed, "arrays_in_npz": sorted(arrays)}, open(a.out + ".json", "w"), indent=1)
print("max|out|", float(np.abs(arrays["out"]).max()), "steps", len(seq))
