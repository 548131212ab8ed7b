"""The demo's photographs, from the images scikit-image ships: `python -m experiments.demo_data`.

Training folder (`--train-dir`, default data/demo_train): every colour and grey photograph below
except the two held out, each at short side 256 and 128 (grey becomes RGB), as PNG. Held out for
evaluation: `chelsea` (the cat) and `coffee`; from each, two 64×64 crops at fixed positions of the
photo at short side 128, written to `--eval-dir` (default jaxinv/demo/images, shipped with the package).
Tuning crops (`--tune-dir`, default data/demo_tune): two 64×64 crops of training photographs, the only
images the demo's guidance weights are chosen on (docs/demo.md).
Needs scikit-image (the `test` extra).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image

from jaxinv import cli

TRAIN_PHOTOS = ("astronaut", "rocket", "motorcycle_left", "hubble_deep_field", "immunohistochemistry",
                "retina", "camera", "coins", "moon", "brick", "grass", "gravel", "page")
HELD_OUT = ("chelsea", "coffee")
TRAIN_SHORT_SIDES = (256, 128)
EVAL_SHORT_SIDE = 128
# (photo, top, left) of each 64x64 evaluation crop, in the photo resized to short side 128:
# the cat's eyes, the cup, the cat's nose and mouth, the spoon on the saucer (one crop of each
# photograph first: the quick demo uses the first two).
EVAL_CROPS = (("chelsea", 20, 40), ("coffee", 8, 60), ("chelsea", 60, 70), ("coffee", 60, 100))
# (photo, top, left) of the two tuning crops, from training photographs at short side 128: the
# astronaut's face, the motorcycle's front.
TUNE_CROPS = (("astronaut", 10, 40), ("motorcycle_left", 40, 40))
CROP = 64


def load_photo(name: str) -> Image.Image:
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(skimage.data, name)()
    return Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")


def resize_short_side(image: Image.Image, short: int) -> Image.Image:
    scale = short / min(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def write_training_folder(directory: str) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name in TRAIN_PHOTOS:
        photo = load_photo(name)
        for short in TRAIN_SHORT_SIDES:
            path = os.path.join(directory, f"{name}_{short}.png")
            resize_short_side(photo, short).save(path)
            paths.append(path)
    return paths


def write_crops(directory: str, crops=EVAL_CROPS) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i, (name, top, left) in enumerate(crops):
        photo = resize_short_side(load_photo(name), EVAL_SHORT_SIDE)
        path = os.path.join(directory, f"{i}_{name}.png")
        photo.crop((left, top, left + CROP, top + CROP)).save(path)
        paths.append(path)
    return paths


def demo_data(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-dir", default="data/demo_train")
    parser.add_argument("--eval-dir", default=os.path.join(os.path.dirname(__file__), "..", "jaxinv", "demo", "images"))
    parser.add_argument("--tune-dir", default="data/demo_tune")
    args = parser.parse_args(argv)
    print(f"{len(write_training_folder(args.train_dir))} training images in {args.train_dir}")
    print(f"{len(write_crops(args.eval_dir))} evaluation crops in {os.path.normpath(args.eval_dir)}")
    print(f"{len(write_crops(args.tune_dir, TUNE_CROPS))} tuning crops in {args.tune_dir}")
    return 0


def main(argv=None) -> int:
    return cli.main(demo_data, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
