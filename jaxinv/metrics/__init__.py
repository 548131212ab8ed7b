"""Image-quality metrics (JAX): PSNR, SSIM, LPIPS-VGG and FID."""

from jaxinv.metrics.fid import (activation_statistics, fid_of_features, frechet_distance, inception_features,
                                load_inception, load_statistics, save_statistics)
from jaxinv.metrics.image_quality import psnr, ssim
from jaxinv.metrics.lpips import LPIPS, load_lpips

__all__ = ["psnr", "ssim", "LPIPS", "load_lpips", "activation_statistics", "fid_of_features", "frechet_distance",
           "inception_features", "load_inception", "load_statistics", "save_statistics"]
