"""Fig. 4, Algorithm 2 with G: δ = 0.9, 1200 rounds, Adam(1e-6) ε-loss step per round from round 40.

Needs a learned score (the oracle has nothing to fine-tune); the reference uses the 1-D U-Net,
the CPU default here is the MLP (set --config.score.model=unet on a GPU).
"""
from configs.ggdm.base import base_config


def get_config():
    c = base_config()
    c.name, c.versions, c.deltas, c.rounds = "fig4_alg2_G", ("v1",), (0.9,), 1200
    c.score.model, c.score.pretrain_lr, c.score.pretrain_epochs = "mlp", 3e-4, 12.0
    c.finetune.enabled, c.finetune.lr, c.finetune.start_round = True, 1e-6, 40
    c.quick_overrides = dict(rounds=40, pretrain_epochs=1.0, n_data=16384, ft_start_round=10)
    return c
