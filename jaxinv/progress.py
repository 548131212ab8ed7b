"""Progress over sampling steps: a tqdm bar fed by the step loop, from the host or from inside `lax.scan`.

    with progress.steps_bar(num_steps, desc="batch 1"):
        out = sample(...)      # its step loop calls `report(i, residual)` every `report_every(N)` steps

Inside a compiled scan (`driver.run(..., progress=True)`) the report is a `jax.debug.callback` under
a `lax.cond`, so the steps between reports (about `UPDATES` reports a run) pay nothing. Under `vmap`
and across devices a report arrives once per sample: the bar advances on the first arrival of each
step and shows that sample's residual ||y - A(x0_hat)|| (or the solver's loss). Without an open bar a
report does nothing, so a program compiled with reports can run silently.
"""
from __future__ import annotations

import contextlib
import threading

import jax
import jax.numpy as jnp
import numpy as np

UPDATES = 100
RESIDUAL_KEYS = ("residual_norm", "loss")    # the first a solver's step diagnostics hold is shown
_lock = threading.Lock()
_bar = None


def report_every(num_steps: int) -> int:
    """Steps between reports: about `UPDATES` reports over `num_steps`."""
    return max(1, -(-int(num_steps) // UPDATES))


def is_open() -> bool:
    return _bar is not None


def report(step, residual=None) -> None:
    """Host side: step `step` (0-based) is done; moves the open bar, if any."""
    with _lock:
        bar = _bar
        if bar is None or int(step) + 1 <= bar.n:
            return
        bar.update(int(step) + 1 - bar.n)
        if residual is not None:
            bar.set_postfix(residual=f"{float(np.ravel(residual)[-1]):.4g}", refresh=False)


def local_mean(x):
    """The mean of this process's part of an array (no collective: other processes show no bar), or None."""
    if x is None:
        return None
    shards = getattr(x, "addressable_shards", None)
    parts = [np.asarray(s.data) for s in shards] if shards else [np.asarray(x)]
    return float(np.mean(np.concatenate([p.ravel() for p in parts])))


def step_residual(aux: dict):
    """The value a report shows from one step's diagnostics, or None."""
    return next((aux[k] for k in RESIDUAL_KEYS if k in aux), None)


def traced_report(i, num_steps: int, aux: dict) -> None:
    """Inside a traced step loop: `report(i, residual)` from the host every `report_every` steps and at the last."""
    every = report_every(num_steps)
    residual = step_residual(aux)
    args = (i,) if residual is None else (i, jnp.ravel(residual)[-1])
    due = (i % every == every - 1) | (i == num_steps - 1)
    jax.lax.cond(due, lambda: jax.debug.callback(report, *args), lambda: None)


@contextlib.contextmanager
def steps_bar(total: int, disable: bool = False, **tqdm_kwargs):
    """A tqdm bar over `total` sampling steps that receives the reports while the block runs."""
    global _bar
    from tqdm import tqdm

    if disable or total <= 0:
        yield None
        return
    bar = tqdm(total=int(total), unit="step", leave=False, **tqdm_kwargs)
    with _lock:
        _bar = bar
    try:
        yield bar
    finally:
        with _lock:
            _bar = None
        bar.close()
