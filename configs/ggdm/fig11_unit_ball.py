"""Fig. 11: unit sphere, reward θᵀx, B = 256, 25 rounds, δ swept over 0.02–0.52 for G and G_loss
(README: --seed 1); the (reward, ratio) after the last round per δ gives the Pareto fronts."""
from configs.ggdm.base import base_config


def get_config():
    c = base_config()
    c.name, c.data, c.reward = "fig11_unit_ball", "unit_ball", "linear"
    c.versions, c.deltas = ("v1", "v2"), (0.02, 0.05, 0.1, 0.2, 0.3, 0.52)
    c.rounds, c.batch, c.seeds = 25, 256, (1,)
    c.score.model, c.score.pretrain_lr, c.score.pretrain_epochs = "mlp", 1e-4, 20.0
    c.quick_overrides = dict(rounds=10, pretrain_epochs=2.0, n_data=16384, batch=64,
                             deltas=(0.02, 0.1, 0.3, 0.52))
    return c
