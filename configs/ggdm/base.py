"""Base config of the GGDM simulations (GGDMOptim `simulations/main.py` flags, README values)."""
import os

import ml_collections

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "jaxinv", "reward", "data")


def base_config():
    c = ml_collections.ConfigDict()
    c.name = "ggdm"
    c.data = "linear_latent"                     # or "unit_ball"
    c.reward = "quadratic_theta2"                # quadratic_theta{1,2}, negnormplus_b{1,2}, linear
    c.hyperparameters = ""                       # "" → the committed file for `data`
    c.versions = ("v2",)                         # "v1" = G, "v2" = G_loss; several → one run each
    c.deltas = (0.2,)                            # δ (--interval); several → a sweep + Pareto plot
    c.sigma = 0.1
    c.beta_coef = 1.0
    c.beta = 0.0                                 # constant β_t if > 0
    c.rounds = 1000
    c.batch = 32
    c.T = 200
    c.top_k = 4
    c.seeds = (1234, 2345, 3456, 4567, 5678)
    c.score = ml_collections.ConfigDict(dict(
        model="oracle", mlp_hidden=(512, 512, 512), mlp_skip=True, unet_dim=64,
        n_data=65536, pretrain_epochs=20.0, pretrain_batch=32, pretrain_lr=1e-4, pretrain_seed=0,
        checkpoint=""))                           # a directory saved by a previous run: skip pretraining
    c.finetune = ml_collections.ConfigDict(dict(enabled=False, lr=1e-6, start_round=0, rounds=-1))
    c.quick = False
    c.quick_overrides = ml_collections.ConfigDict(dict(rounds=30, pretrain_epochs=1.0, n_data=16384))
    c.out_root = "runs/ggdm"
    return c
