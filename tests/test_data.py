import csv

import numpy as np
import pytest
from PIL import Image

from jaxinv.data import Example, batches, caption_csv, center_crop_resize, image_folder, npz_images


def _write(path, array):
    Image.fromarray(array).save(path)


def test_center_crop_resize_follows_guided_diffusion(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (300, 520, 3), dtype=np.uint8)
    out = center_crop_resize(Image.fromarray(big), 64)
    # reference: guided-diffusion's center_crop_arr, written out with PIL step by step
    ref = Image.fromarray(big)
    ref = ref.resize((260, 150), resample=Image.BOX)  # short side 300 >= 2*64
    ref = ref.resize((130, 75), resample=Image.BOX)  # short side 150 >= 2*64
    ref = ref.resize((round(130 * 64 / 75), 64), resample=Image.BICUBIC)
    ref = np.asarray(ref)
    left = (ref.shape[1] - 64) // 2
    np.testing.assert_array_equal(out, ref[:, left : left + 64])
    grey = center_crop_resize(Image.fromarray(big[..., 0]), 32)
    assert grey.shape == (32, 32, 3) and grey.dtype == np.uint8


def test_image_folder_sorted_subset_and_range(tmp_path):
    for name in ["b.png", "a.png", "c.jpg"]:
        _write(tmp_path / name, np.full((40, 40, 3), ord(name[0]), np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    examples = image_folder(str(tmp_path), 32, start=1)
    assert [e.name for e in examples] == ["b", "c"]
    assert examples[0].image.shape == (32, 32, 3)
    np.testing.assert_allclose(examples[0].image, ord("b") / 127.5 - 1, atol=1e-6)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        image_folder(str(tmp_path / "missing"), 32)
    with pytest.raises(ValueError, match="no images"):
        image_folder(str(tmp_path), 32)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        image_folder(str(tmp_path), 32)


def test_caption_csv_and_npz(tmp_path):
    _write(tmp_path / "x.png", np.zeros((20, 20, 3), np.uint8))
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_path", "caption"])
        writer.writerow(["x.png", "a black square"])
    (example,) = caption_csv(str(tmp_path / "data.csv"), 16)
    assert example.caption == "a black square" and example.image.shape == (16, 16, 3)
    np.savez(tmp_path / "imgs.npz", np.full((3, 16, 16, 3), 255, np.uint8), np.array([7, 8, 9]))
    examples = npz_images(str(tmp_path / "imgs.npz"), 16, start=1, end=3)
    assert [e.label for e in examples] == [8, 9]
    np.testing.assert_allclose(examples[0].image, 1.0)


def test_batches_pad_last():
    items = [Example(np.full((4, 4, 3), i, np.float32), str(i)) for i in range(5)]
    out = list(batches(items, 2))
    assert [b.valid for b in out] == [2, 2, 1]
    assert out[-1].images.shape == (2, 4, 4, 3) and out[-1].names == ["4"]
    np.testing.assert_array_equal(out[-1].images[1], out[-1].images[0])
