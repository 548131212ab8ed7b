"""Algorithm 1 on the demo prior with G (`cond_score_v1`): the `image_gloss` setting with guidance v1."""
from configs.ggdm.image_gloss import get_config as gloss_config


def get_config():
    c = gloss_config()
    c.name, c.version = "image_g", "v1"
    c.timing.extra = ("v2",)
    return c
