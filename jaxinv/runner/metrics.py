"""The metrics of a run directory beyond PSNR/SSIM: LPIPS per image, FID over the set.

LPIPS and FID need converted weights (`eval.lpips_dir`, `eval.inception_dir`, docs/metrics.md).
Without them the metric is skipped with a one-line notice naming the convert command, printed once
per process and recorded in summary.json; nothing is ever filled in.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image

from jaxinv.metrics import psnr, ssim

PER_IMAGE = {"psnr": psnr, "ssim": ssim}
KNOWN_METRICS = ("psnr", "ssim", "lpips", "fid")  # fid is over the whole image set: summary.json only
CONVERT_COMMANDS = {
    "lpips": "python -m convert.lpips --vgg16 vgg16-397923af.pth --output {dir}",
    "fid": "python -m convert.inception --weights pt_inception-2015-12-05-6726825d.pth --output {dir}",
}


def check_metrics(config) -> None:
    """Fails before any sampling on an unknown metric name or a missing `eval.fid_reference` file."""
    unknown = [m for m in config.eval.metrics if m not in KNOWN_METRICS]
    if unknown:
        raise ValueError(f"eval.metrics: unknown {unknown}; choose from {list(KNOWN_METRICS)}")
    reference = eval_field(config, "fid_reference")
    if "fid" in config.eval.metrics and reference and not os.path.isfile(reference):
        raise FileNotFoundError(f"eval.fid_reference: FID statistics file not found: {reference}")


def eval_field(config, name):
    """`config.eval.<name>`, or its default for the config.json of a run made before the field existed."""
    if name in config.eval:
        return config.eval[name]
    from configs.defaults import get_config

    return get_config().eval[name]


_METRIC_MODELS: dict = {}


def metric_model(kind, directory):
    """(loaded model or None, notice) for "lpips" / "fid"; loaded, or the skip notice printed, once per process."""
    key = (kind, os.path.abspath(directory))
    if key not in _METRIC_MODELS:
        from jaxinv.checkpoint import CONFIG_FILE
        from jaxinv.metrics import load_inception, load_lpips

        if os.path.isfile(os.path.join(directory, CONFIG_FILE)):
            _METRIC_MODELS[key] = ((load_lpips if kind == "lpips" else load_inception)(directory), None)
        else:
            notice = (f"not computed: no converted {'LPIPS' if kind == 'lpips' else 'Inception'} weights in "
                      f"{directory}; convert them with `{CONVERT_COMMANDS[kind].format(dir=directory)}`")
            print(f"{kind}: {notice}", file=sys.stderr)
            _METRIC_MODELS[key] = (None, notice)
    return _METRIC_MODELS[key]


def per_image_metrics(config) -> dict:
    """name -> fn(label01, image01) for the per-image metrics of `eval.metrics` that can be computed."""
    fns = {m: PER_IMAGE[m] for m in config.eval.metrics if m in PER_IMAGE}
    if "lpips" in config.eval.metrics:
        distance, _ = metric_model("lpips", eval_field(config, "lpips_dir"))
        if distance is not None:
            # LPIPS takes [-1, 1]: the same 8-bit [0, 1] images as PSNR/SSIM, mapped by 2x - 1.
            fns["lpips"] = lambda a, b: distance(2 * a[None] - 1, 2 * b[None] - 1)[0]
    return fns


def set_metrics(run_dir, config, names) -> dict:
    """summary.json entries for LPIPS (when skipped) and FID of recon/ against label/ or `eval.fid_reference`."""
    from jaxinv.metrics import activation_statistics, frechet_distance, inception_features, load_statistics
    from jaxinv.metrics import save_statistics

    out = {}
    if "lpips" in config.eval.metrics:
        _, notice = metric_model("lpips", eval_field(config, "lpips_dir"))
        out["lpips"] = notice or "per image in metrics.csv; mean/std under metrics.lpips"
    else:
        out["lpips"] = "not computed: not in eval.metrics"
    if "fid" not in config.eval.metrics:
        out["fid"] = "not computed: not in eval.metrics"
        return out
    features, notice = metric_model("fid", eval_field(config, "inception_dir"))
    reference = eval_field(config, "fid_reference")
    if notice is not None:
        out["fid"] = notice
        return out
    if len(names) < 2:
        out["fid"] = f"not computed: FID needs at least 2 images, got {len(names)}"
        return out
    load = lambda sub: np.stack([np.asarray(Image.open(os.path.join(run_dir, sub, f"{n}.png")).convert("RGB"),
                                            np.float32) / 255.0 for n in names])
    batch = int(eval_field(config, "fid_batch_size"))
    stats = activation_statistics(inception_features(features, load("recon"), batch))
    save_statistics(os.path.join(run_dir, "fid_stats_recon.npz"), *stats)
    if reference:
        ref_stats, against = load_statistics(reference), reference
    else:
        ref_stats, against = activation_statistics(inception_features(features, load("label"), batch)), "label/"
    try:
        value = frechet_distance(*stats, *ref_stats)
    except ValueError as e:  # e.g. a complex sqrt(Σ1 Σ2) from too few images: report, do not lose the run
        out["fid"] = f"not computed: {e} (n = {len(names)})"
        return out
    out["fid"] = {"value": value, "n": len(names), "recon": "recon/", "reference": against,
                  "statistics": "fid_stats_recon.npz (pytorch-fid format)"}
    if len(names) < 2048:
        out["fid"]["note"] = (f"n = {len(names)} < 2048 (the feature dimension): the covariance is rank-deficient "
                              "and the value is biased; not comparable with published FIDs")
    return out
