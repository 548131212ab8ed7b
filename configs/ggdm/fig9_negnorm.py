"""Fig. 9(b): Algorithm 1 + G_loss on f₂ = 5 − 0.5‖x − b‖, δ = 1, 50 rounds (b₂ default; b₁ via
--config.reward=negnormplus_b1)."""
from configs.ggdm.base import base_config


def get_config():
    c = base_config()
    c.name, c.reward, c.versions, c.deltas, c.rounds = "fig9_negnorm", "negnormplus_b2", ("v2",), (1.0,), 50
    c.quick_overrides.rounds = 50
    return c
