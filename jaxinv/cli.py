"""The one command-line pattern of every entry point in `experiments/` and `convert/`.

    def main(argv=None) -> int:
        return cli.main(lambda args: execute(parse(args)), sys.argv if argv is None else argv)

`cli.main` runs the job on the arguments (`--debug` removed; as given: with the program name for
absl flags, without it for argparse) and turns its outcome into an exit
status: 0 with `wrote <dir>` when the job returns a directory; 2 with ONE line `error: <message>`
(no traceback) for a user error; a traceback for anything else, which is a bug. With `--debug`
(or `JAXINV_DEBUG=1`) user errors show their traceback too.

User errors are what a user can fix by changing the command: a `UserError`; a path that does not
exist, exists already or cannot be read (`FileNotFoundError`, `FileExistsError`, `IsADirectoryError`,
`NotADirectoryError`, `PermissionError`); a bad flag, including a misspelt `--config.*` field
(`config_flags`); and a `ValueError` raised by this project's own code, which raises it only to
refuse input (an unknown solver or operator, a wrong shape, a checkpoint that does not map). A
`ValueError` from inside JAX or NumPy is a bug and keeps its traceback.
"""
from __future__ import annotations

import os
import sys
import traceback

PROJECT_PACKAGES = ("jaxinv", "convert", "experiments", "configs")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
EXIT_USER_ERROR = 2


class UserError(Exception):
    """Input the command refuses; the message names the problem and the fix."""


def _raised_by_project(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    path = os.path.abspath(last.tb_frame.f_code.co_filename)
    return any(path.startswith(os.path.join(_ROOT, p) + os.sep) for p in PROJECT_PACKAGES)


def is_user_error(exc: BaseException) -> bool:
    from absl import flags

    if isinstance(exc, (UserError, flags.Error) + PATH_ERRORS):
        return True
    return isinstance(exc, ValueError) and _raised_by_project(exc)


def parse_config_flags(flag_values, argv) -> None:
    """`flag_values(argv)`, with a config file that cannot be loaded or a misspelt `--config.a.b`
    override as a `UserError` naming it."""
    try:
        flag_values(list(argv))
    except (AttributeError, KeyError) as e:
        detail = str(e.args[0] if e.args else e).strip("'\"").replace("\\n", " ").replace("\n", " ").replace("\\'", "'")
        raise UserError(f"a --config override names no config field: {detail}") from e
    for name in list(flag_values):
        try:
            getattr(getattr(flag_values, name), "to_dict", None)
        except OSError as e:   # config_flags defers a missing or broken config file to the first access
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            raise UserError(f"--{name}: cannot load the config file ({lines[-1] if lines else e})") from e


def main(job, argv) -> int:
    """Exit status of `job(argv)` (`--debug` removed), with its errors as described above."""
    argv = list(argv)
    debug = "--debug" in argv or os.environ.get("JAXINV_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        result = job(argv)
    except Exception as e:  # noqa: BLE001 - sorted into user errors (one line) and bugs (re-raised)
        if debug or not is_user_error(e):
            raise
        message = str(e).strip() or type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SystemExit as e:   # argparse: it printed its usage line and the message already
        if debug and e.code not in (0, None):
            traceback.print_exc()
        return e.code if isinstance(e.code, int) else EXIT_USER_ERROR
    if isinstance(result, int):
        return result
    if result is not None:
        print(f"wrote {result}")
    return 0
