"""jaxinv: imaging inverse problems with pretrained diffusion priors in JAX/Flax."""

__version__ = "0.1.0"
