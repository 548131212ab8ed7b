"""The demo prior: a small ADM UNet trained on 32×32 patches of scikit-image's photographs.

    python -m experiments.demo_data            # writes data/demo_train (the held-out photos excluded)
    python -m experiments.train --config configs/train/demo.py

The photographs are those of `experiments/demo_data.py` (chelsea and coffee held out), each at short
side 256 and 128, used at their own size (`data.load_size = 0`) with random 32×32 crops and flips.
The UNet is fully convolutional apart from attention at the lowest resolution, so it is exported at
`export_image_size = 64` (same parameters, attention at the same downsampling factor) for the
64×64 demo crops. The final EMA parameters (`<run>/model`) are what ships as `jaxinv/demo/prior`.
1.37M parameters; about 0.46 s per step (batch 16) on 2 CPU cores.
"""
from configs.train import tiny


def get_config():
    c = tiny.get_config()
    c.name = "train_demo"
    c.model.image_size = 32
    c.model.num_channels = 32
    c.model.num_res_blocks = 1
    c.model.channel_mult = "1,2,2"
    c.model.attention_resolutions = "8"
    c.model.num_heads = 1
    c.model.num_head_channels = 32
    c.model.resblock_updown = True
    c.export_image_size = 64
    c.data.path = "data/demo_train"
    c.data.load_size = 0
    c.data.patch_size = 32
    c.optim.lr = 4e-4
    c.optim.warmup_steps = 200
    c.optim.end_factor = 0.05
    c.ema_decay = 0.999
    c.batch_size = 16
    c.num_steps = 5000
    c.log_every = 20
    c.checkpoint_every = 500
    return c
