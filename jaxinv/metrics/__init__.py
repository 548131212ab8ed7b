"""Image-quality metrics (JAX)."""

from jaxinv.metrics.image_quality import psnr, ssim

__all__ = ["psnr", "ssim"]
