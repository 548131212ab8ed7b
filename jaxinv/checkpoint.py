"""Orbax checkpoints of Flax parameters plus the JSON model config that builds their module."""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

PARAMS_SUBDIR = "params"
CONFIG_FILE = "model_config.json"


def save_params(directory: str | os.PathLike, params: Any, model_config: dict) -> str:
    """Writes `params` as an orbax checkpoint and `model_config` as JSON into a new directory.

    Refuses to write into a directory that already holds a checkpoint, so a user's converted
    weights are never overwritten.
    """
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(os.path.join(directory, PARAMS_SUBDIR)):
        raise FileExistsError(f"{directory} already holds a checkpoint; choose a new output directory")
    os.makedirs(directory, exist_ok=True)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.join(directory, PARAMS_SUBDIR), params)
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(model_config, f, indent=2, sort_keys=True)
    return directory


def load_params(directory: str | os.PathLike) -> tuple[Any, dict]:
    """Reads back `(params, model_config)` written by `save_params` (arrays on the default device, no torch)."""
    directory = os.path.abspath(os.fspath(directory))
    config_path = os.path.join(directory, CONFIG_FILE)
    params_path = os.path.join(directory, PARAMS_SUBDIR)
    if not (os.path.isfile(config_path) and os.path.isdir(params_path)):
        raise FileNotFoundError(
            f"{directory} is not a converted jaxinv checkpoint (expected {CONFIG_FILE} and {PARAMS_SUBDIR}/)"
        )
    with open(config_path) as f:
        model_config = json.load(f)
    with ocp.StandardCheckpointer() as checkpointer:
        # Through numpy: restoring onto the saved (one-device) sharding fails in a multi-process
        # run (orbax: topology mismatch); callers place the arrays (`jaxinv.sharding.replicate`).
        saved = checkpointer.metadata(params_path).item_metadata
        params = checkpointer.restore(params_path, jax.tree.map(lambda m: np.empty(m.shape, m.dtype), saved))
    return jax.tree.map(jnp.asarray, params), model_config
