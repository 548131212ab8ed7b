"""Fig. 11 on the CPU: the `fig11_unit_ball` sweep (B = 256, 25 rounds, six δ, G and G_loss) with a
pretraining the MLP learns the sphere from: Adam 3e-4 for 10 epochs of the 65,536 samples (the
reference's 1e-4 for 20 epochs is for its U-Net; 1e-3 for 20 epochs diverged to non-finite samples)."""
from configs.ggdm.fig11_unit_ball import get_config as fig11_config


def get_config():
    c = fig11_config()
    c.name = "fig11_unit_ball_cpu"
    c.score.pretrain_lr, c.score.pretrain_epochs = 3e-4, 10.0
    return c
