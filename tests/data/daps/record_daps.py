"""Record a DAPS run: the original `sampler.DAPS.sample` (zhangbingliang2019/DAPS 098df6b, pixel space,
prior_solver gaussian) called as released, on the shared tiny random ADM through its `DDPM` / `VPPrecond`,
every torch.randn_like after the measurement recorded in call order (per annealing step: [HMC velocity],
the MCMC draws, the forward draw). Only the device is the CPU and `diffusers` (imported for Stable
Diffusion, never used) is stubbed."""
import argparse, json, sys, types
import numpy as np, torch

p = argparse.ArgumentParser()
p.add_argument("--daps-repo", required=True, help="sampler.py, cores/, forward_operator/, model/ of DAPS 098df6b")
p.add_argument("--fixtures", required=True, help="the shared fixtures folder (adm/, diffpir/ for the images)")
p.add_argument("--out", required=True)
p.add_argument("--mc-algo", default="hmc"); p.add_argument("--seed", type=int, default=7)
a = p.parse_args()
sys.path.insert(0, a.daps_repo)
diffusers = types.ModuleType("diffusers"); diffusers.StableDiffusionPipeline = None; sys.modules["diffusers"] = diffusers
from sampler import DAPS
from forward_operator import get_operator
from model import DDPM

F = a.fixtures.rstrip("/") + "/"
cfg = json.load(open(F + "adm/adm_tiny_a_config.json"))
model = DDPM({**cfg, "class_cond": False, "model_path": F + "adm/adm_tiny_a.pt"}, device="cpu")
x_H = np.load(F + "diffpir/diffpir_tiny_deblur.npz")["x_H"].astype(np.float32) / 127.5 - 1       # (32, 32, 3)
x0 = torch.from_numpy(np.stack([x_H, x_H[:, ::-1]]).copy()).permute(0, 3, 1, 2).contiguous()     # batch 2
op_params = {"kernel_size": 9, "intensity": 1.5}
sigma_y = 0.05
operator = get_operator(name="gaussian_blur", device="cpu", sigma=sigma_y, **op_params)
annealing = {"name": "edm", "num_steps": 5, "sigma_max": 15.0, "sigma_min": 0.1, "timestep": "poly-7"}
diffusion = {"name": "edm", "num_steps": 3, "sigma_min": 0.01, "timestep": "poly-7"}
mcmc = ({"num_steps": 3, "lr": 8e-5, "tau": 0.02, "lr_min_ratio": 0.05, "mc_algo": "hmc", "prior_solver": "gaussian",
         "momentum": 0.7} if a.mc_algo == "hmc" else
        {"num_steps": 3, "lr": 8e-5, "tau": 0.02, "lr_min_ratio": 0.05, "mc_algo": "langevin", "prior_solver": "gaussian"})
torch.manual_seed(a.seed)
y = operator.measure(x0)
x_start = torch.randn_like(x0) * annealing["sigma_max"]
sampler = DAPS(dict(annealing), dict(diffusion), dict(mcmc))
draws = []
randn_like = torch.randn_like
def recording(t, *args, **kw):
    z = randn_like(t, *args, **kw); draws.append(z.numpy().copy()); return z
torch.randn_like = recording
out = sampler.sample(model, x_start, operator, y)
n, j, hmc = annealing["num_steps"], mcmc["num_steps"], mcmc["mc_algo"] == "hmc"
per = j + 1 + hmc
assert len(draws) == n * per, (len(draws), n, per)
steps = [draws[k * per:(k + 1) * per] for k in range(n)]
arrays = {"x0": x0.numpy(), "y": y.numpy(), "x_start": x_start.numpy(), "out": out.detach().numpy(),
          "z_langevin": np.stack([np.stack(s[hmc:hmc + j]) for s in steps]), "z_forward": np.stack([s[-1] for s in steps]),
          "annealing_sigma_steps": sampler.annealing_scheduler.sigma_steps.numpy()}
if hmc:
    arrays["z_velocity"] = np.stack([s[0] for s in steps])
np.savez(a.out + ".npz", **arrays)
json.dump({"method": "DAPS", "source": "zhangbingliang2019/DAPS 098df6b sampler.DAPS + cores.mcmc.MCMCSampler (pixel; "
           "tests/data/daps/record_daps.py)", "model": "adm_tiny_a", "precond": "VPPrecond", "task": "gaussian_blur",
           "operator_params": op_params, "sigma_y": sigma_y, "annealing_scheduler": annealing,
           "diffusion_scheduler": diffusion, "mcmc_sampler": mcmc, "batch": 2, "seed": a.seed,
           "arrays_in_npz": sorted(arrays)}, open(a.out + ".json", "w"), indent=1)
print("max|out|", float(np.abs(arrays["out"]).max()))
