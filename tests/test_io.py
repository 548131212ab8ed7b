import os

import numpy as np
from PIL import Image

from jaxinv.io import fresh_run_dir, save_grid, to_uint8


def test_fresh_run_dir_never_reuses(tmp_path):
    first = fresh_run_dir(str(tmp_path), "run")
    (open(os.path.join(first, "keep.txt"), "w")).write("user data")
    second = fresh_run_dir(str(tmp_path), "run")
    assert first != second and os.listdir(second) == []
    assert open(os.path.join(first, "keep.txt")).read() == "user data"


def test_to_uint8_and_grid(tmp_path):
    np.testing.assert_array_equal(to_uint8(np.array([[[-1.0, 0.0, 1.0]]])), [[[0, 128, 255]]])
    images = np.stack([np.full((4, 5, 3), v, np.float32) for v in (-1.0, 1.0, -1.0)])
    save_grid(str(tmp_path / "g.png"), images, columns=2, pad=1)
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (9, 11, 3)
    assert grid[0, 0, 0] == 0 and grid[0, 6, 0] == 255 and grid[5, 0, 0] == 0 and grid[5, 6, 0] == 255
