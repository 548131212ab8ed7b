"""Output helpers: fresh run directories and image files."""

from jaxinv.io.run_dir import fresh_run_dir, save_grid, save_image, to_uint8

__all__ = ["fresh_run_dir", "save_grid", "save_image", "to_uint8"]
