"""The arguments `experiments.crosscheck <method>` takes for a recording F.npz / F.json on the shared tiny ADM."""
from __future__ import annotations

import argparse
import pathlib


def replay_args(fixtures_dir: pathlib.Path, recording: pathlib.Path) -> argparse.Namespace:
    """`recording` without its suffix; the network is `adm/adm_tiny_a.pt` of the shared fixtures."""
    return argparse.Namespace(fixture=str(recording.with_suffix(".npz")), spec=str(recording.with_suffix(".json")),
                              checkpoint=str(fixtures_dir / "adm" / "adm_tiny_a.pt"),
                              model_config=str(fixtures_dir / "adm" / "adm_tiny_a_config.json"))
