"""Strict state-dict → nested Flax parameter mapping shared by every converter."""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping

import numpy as np

# A rule turns one torch key and its array into (flax path, array), or None if it does not apply.
KeyRule = Callable[[str, np.ndarray], "tuple[tuple[str, ...], np.ndarray] | None"]


class ConversionError(ValueError):
    """A state dict that does not match the Flax module: the message lists every offending key."""


def flatten(tree: Mapping, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, prefix + (k,)))
        else:
            out[prefix + (k,)] = v
    return out


def unflatten(flat: Mapping[tuple[str, ...], object]) -> dict:
    tree: dict = {}
    for path, v in flat.items():
        node = tree
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = v
    return tree


def split_torch_key(key: str) -> tuple[list[str], str]:
    """`input_blocks.1.0.in_layers.2.weight` -> ([input_blocks_1_0, in_layers_2], weight).

    A numeric component is an index into a `ModuleList`/`Sequential` and joins its parent, which is
    how the Flax modules of this package name their submodules.
    """
    *parts, leaf = key.split(".")
    modules: list[str] = []
    for part in parts:
        if part.isdigit() and modules:
            modules[-1] = f"{modules[-1]}_{part}"
        else:
            modules.append(part)
    return modules, leaf


def torch_to_flax_array(name: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """The usual layout changes: conv OIHW → HWIO, linear (out, in) → (in, out), norm weight → scale."""
    if name == "weight":
        if value.ndim == 4:
            return "kernel", np.transpose(value, (2, 3, 1, 0))
        if value.ndim == 3:
            return "kernel", np.transpose(value, (2, 1, 0))
        if value.ndim == 2:
            return "kernel", value.T
        if value.ndim == 1:
            return "scale", value
    if name == "bias":
        return "bias", value
    raise KeyError(name)


_TORCH_LEAF = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias",
               "mean": "running_mean", "var": "running_var"}
_COLLECTIONS = ("params", "batch_stats")


def default_torch_key(path: tuple[str, ...]) -> str:
    """The torch key a Flax path comes from under `split_torch_key` and the usual leaf names:
    `(input_blocks_1_0, in_layers_2, kernel)` -> `input_blocks.1.0.in_layers.2.weight`."""
    *modules, leaf = path[1:] if path and path[0] in _COLLECTIONS else path
    parts = [re.sub(r"_(\d+)(?=_|$)", r".\1", m) for m in modules]
    return ".".join(parts + [_TORCH_LEAF.get(leaf, leaf)])


def map_state_dict(
    state_dict: Mapping[str, np.ndarray],
    rule: KeyRule,
    expected: Mapping,
    ignore: Iterable[str] = (),
    what: str = "checkpoint",
    torch_key: Callable[[tuple[str, ...]], str] = default_torch_key,
) -> dict:
    """Maps every key of `state_dict` through `rule` onto the tree `expected` (shapes only needed).

    Fails with a `ConversionError` that lists, by torch key with the Flax target beside it, keys
    the rule cannot place, keys placed on a leaf the module does not have, shape mismatches, two
    keys landing on one leaf, and module leaves left without a key (named by `torch_key(path)`, the
    key that would have mapped there; if `torch_key` does not invert `rule` on the keys that did
    map, those are named by Flax path only). Keys matching a prefix in `ignore` (buffers such as
    `position_ids`) are skipped.
    """
    expected_flat = {p: tuple(np.shape(v)) for p, v in flatten(expected).items()}
    ignore = tuple(ignore)
    produced: dict[tuple[str, ...], np.ndarray] = {}
    source: dict[tuple[str, ...], str] = {}
    unmapped, unknown, mismatched, duplicated = [], [], [], []
    for key, value in state_dict.items():
        if ignore and any(key.endswith(s) or key.startswith(s) for s in ignore):
            continue
        mapped = rule(key, np.asarray(value))
        if mapped is None:
            unmapped.append(key)
            continue
        path, array = mapped
        if path not in expected_flat:
            unknown.append(f"{key} -> {'/'.join(path)}")
        elif tuple(array.shape) != expected_flat[path]:
            mismatched.append(f"{key} {tuple(value.shape)} -> {'/'.join(path)} expects {expected_flat[path]}")
        elif path in produced:
            duplicated.append(f"{key} and {source[path]} -> {'/'.join(path)}")
        else:
            produced[path] = np.asarray(array, dtype=np.float32) if np.issubdtype(array.dtype, np.floating) else array
            source[path] = key
    inverts = all(torch_key(p) == k for p, k in source.items())
    missing = sorted(f"{torch_key(p)} -> {'/'.join(p)}" if inverts else "/".join(p)
                     for p in expected_flat if p not in produced)
    problems = []
    for title, items in (
        ("keys with no mapping", unmapped),
        ("keys mapped to a parameter the module does not have", unknown),
        ("shape mismatches", mismatched),
        ("keys mapped twice", duplicated),
        ("keys missing from the checkpoint" if inverts else "module parameters missing from the checkpoint", missing),
    ):
        if items:
            shown = "\n    ".join(items[:40]) + (f"\n    ... and {len(items) - 40} more" if len(items) > 40 else "")
            problems.append(f"  {title} ({len(items)}):\n    {shown}")
    if problems:
        raise ConversionError(f"{what} does not match the model config:\n" + "\n".join(problems))
    return unflatten(produced)
