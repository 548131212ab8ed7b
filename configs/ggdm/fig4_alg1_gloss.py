"""Fig. 4, Algorithm 1 with G_loss: f₁(θ₂), δ = 0.2, B = 32, 1000 rounds (README command)."""
from configs.ggdm.base import base_config


def get_config():
    c = base_config()
    c.name, c.versions, c.deltas, c.rounds = "fig4_alg1_Gloss", ("v2",), (0.2,), 1000
    c.score.model = "oracle"
    c.quick_overrides.rounds = 200
    return c
