"""A tiny ADM UNet trained on 16×16 patches: `python -m experiments.train --config configs/train/tiny.py`.

Every field `experiments.train` reads is here; override with `--config.data.path=DIR --config.num_steps=N`.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "train_tiny"          # the run directory is output.root/name/<timestamp>
    c.seed = 0                     # init, per-step noise/timesteps (fold_in(key, step)) and crops ((seed, step))

    # jaxinv.models.adm.ADMConfig fields; image_size must equal data.patch_size.
    c.model = ml_collections.ConfigDict()
    c.model.image_size = 16
    c.model.num_channels = 32     # GroupNorm32 needs a multiple of 32
    c.model.num_res_blocks = 1
    c.model.channel_mult = "1,2"
    c.model.attention_resolutions = "8"
    c.model.num_heads = 1
    c.model.num_head_channels = -1
    c.model.learn_sigma = False    # True: only the eps channels are trained (MSE); the VLB term is not implemented
    c.model.use_scale_shift_norm = True
    c.model.dropout = 0.0
    c.model.resblock_updown = False

    c.export_image_size = 0        # > 0: export the model config at this size (patch-trained UNet on whole images)

    c.data = ml_collections.ConfigDict()
    c.data.path = "data/train"     # folder of images
    c.data.load_size = 32          # images are centre-cropped/resized to this (jaxinv.data.image_folder)
    c.data.patch_size = 16         # random crops of this size, randomly flipped left-right
    c.data.hflip = True

    c.diffusion = ml_collections.ConfigDict()
    c.diffusion.steps = 1000
    c.diffusion.noise_schedule = "linear"

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-3
    c.optim.warmup_steps = 5       # linear warm-up from 0, then cosine decay to lr * end_factor
    c.optim.end_factor = 0.1
    c.optim.weight_decay = 0.0
    c.optim.grad_clip = 1.0        # global-norm clipping
    c.ema_decay = 0.999

    c.batch_size = 8
    c.num_steps = 30
    c.log_every = 1
    c.checkpoint_every = 15        # orbax train state + EMA export to model_step<k>
    c.output = ml_collections.ConfigDict()
    c.output.root = "runs"
    return c
