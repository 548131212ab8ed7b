"""Converters from the original PyTorch checkpoints to Flax parameters (the only package that imports torch)."""
