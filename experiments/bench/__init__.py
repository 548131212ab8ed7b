"""Speed and memory of the samplers against the PyTorch reference, measured in one process.

`python -m experiments.bench --config configs/bench/cpu_quick.py` (needs the `ref` extra: deepinv).
See docs/benchmarks.md.
"""
