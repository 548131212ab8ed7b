"""Algorithm 1 on the demo prior with G_loss: raise the mean of the red channel, δ = 0.1 per round.

σ = 0.02 (not the simulations' 0.1): a mean over 32×32 pixels has ‖g‖² = 1/1024, so with σ = 0.1 the
step size β_t ∝ 1/(α²σ² + h‖∇⟨g, x̂₀⟩‖²) corrects only a small part of the gap y − ⟨g, x̂₀⟩."""
from configs.ggdm.image_base import image_config


def get_config():
    c = image_config()
    c.name = "image_gloss"
    c.scheme, c.version, c.delta, c.sigma = "iterative", "v2", 0.1, 0.02
    c.timing.extra = ("v1",)
    return c
