"""Fig. 9(a): Algorithm 1 + G_loss on f₁ with the on-subspace θ₁, δ = 0.05, 1000 rounds."""
from configs.ggdm.base import base_config


def get_config():
    c = base_config()
    c.name, c.reward, c.versions, c.deltas, c.rounds = "fig9_theta1", "quadratic_theta1", ("v2",), (0.05,), 1000
    c.quick_overrides.rounds = 200
    return c
