"""Gradient-guided reward optimisation with diffusion priors (GGDM; Guo et al., NeurIPS 2024).

Port of yukang123/GGDMOptim: the simulations (linear-latent and unit-sphere data, rewards,
off-support ratios), the score networks (1-D U-Net, MLP, exact oracle ε), the guidances G and
G_loss, Algorithms 1 and 2, and the same guidance for pixel-space image priors.
"""
