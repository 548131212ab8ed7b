"""One command-line pattern: user errors are one line and exit status 2, bugs keep their traceback."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from jaxinv import cli
from jaxinv.operators import make_operator

# (module, takes the program name in argv: absl flags do, argparse does not)
ENTRY_POINTS = [
    ("experiments.run", True), ("experiments.sweep", True), ("experiments.demo", True), ("experiments.g2d2", True),
    ("experiments.train", True), ("experiments.ggdm", True), ("experiments.ggdm_image", True),
    ("experiments.bench.__main__", True), ("experiments.crosscheck.__main__", False),
    ("experiments.posterior_bench", False), ("experiments.sample", False), ("experiments.demo_data", False),
    ("experiments.g2d2_cost", False), ("convert.adm", False), ("convert.bkse", False), ("convert.inception", False),
    ("convert.lpips", False), ("convert.vq_diffusion", False),
]


@pytest.mark.parametrize("module, with_program", ENTRY_POINTS)
def test_every_entry_point_refuses_an_unknown_flag_with_status_2(module, with_program, capsys):
    main = importlib.import_module(module).main
    argv = ["--no-such-flag=1"]
    assert main(["prog"] + argv if with_program else argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" in err, err


def test_user_errors_and_bugs():
    def refuse(argv):
        make_operator("blurr", (8, 8, 3))             # a ValueError raised by the project: a user error

    def bug(argv):
        return np.ones(2) + np.ones(3)                  # a ValueError raised inside NumPy: a bug

    def missing(argv):
        open("/no/such/file")

    assert cli.main(refuse, []) == 2 and cli.main(missing, []) == 2
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(bug, [])
    with pytest.raises(ValueError, match="blurr"):
        cli.main(refuse, ["--debug"])
    assert cli.main(lambda argv: argv, ["a", "--debug"]) == 0   # `--debug` is not passed on


def test_a_returned_directory_is_announced(capsys):
    assert cli.main(lambda argv: "runs/x/1", []) == 0
    assert capsys.readouterr().out == "wrote runs/x/1\n"
    assert cli.main(lambda argv: 3, []) == 3
