"""The fixed-target scheme of the SD experiment (`gradguided_sdpipeline.py`) in pixel space: the
reward −‖mean colour − c*‖² (maximum 0 at c* = (0.5, −0.2, −0.5), an orange), target y* = 0,
strength 300, the linear reward model from the previous round (round 0 unguided)."""
from configs.ggdm.image_base import image_config


def get_config():
    c = image_config()
    c.name = "image_fixed_target"
    c.scheme, c.target, c.strength = "fixed_target", 0.0, 300.0
    c.reward.name, c.reward.colour = "mean_colour", (0.5, -0.2, -0.5)
    c.timing.extra = ()
    return c
