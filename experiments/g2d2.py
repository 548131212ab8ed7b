"""G2D2 over a captioned image set, an alias of `python -m experiments.run --config configs/g2d2/<preset>.py`.

G2D2 is a registered method (`jaxinv.solvers.g2d2`) with a prior of its own, the VQ-Diffusion
pipeline converted by `python -m convert.vq_diffusion` into `model.checkpoint_dir`; the runner
batches its images with `jax.vmap`, takes `--num_samples K` and `--resume`, shards over devices and
writes the run directory every method writes (metrics.csv with each image's prompt).
"""
import sys

from experiments.run import main

if __name__ == "__main__":
    sys.exit(main())
