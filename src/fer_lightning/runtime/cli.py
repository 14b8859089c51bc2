"""How every command ends: a user's mistake is one paragraph on stderr and exit code 2, never a traceback.

A user error is a `FERError` raised anywhere, or a Hydra composition error (unknown option or key, an override
that does not parse, an interpolation that does not resolve). Anything else is a defect: its traceback is
printed and the exit code is 1. `HYDRA_FULL_ERROR=1` shows the full traceback of every error.

One style for every command: `main()` is `run_cli(hydra_main)`, and the body of `hydra_main` runs its work through
`run_task` (commands that fill a run dir: failure records, sweeps go on) or `exit_on_error` (commands that print),
so a user error never reaches Hydra's "Error executing job" line.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from fer_lightning.errors import FERError

USER_ERROR_EXIT = 2
DEFECT_EXIT = 1
MAX_MESSAGE_CHARS = 1200


def printable(text: str) -> str:
    """Escape control characters and NULs (bytes of a broken file quoted in a message) so a terminal shows them."""
    return "".join(
        ch if ch.isprintable() or ch in "\n\t" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def one_paragraph(text: str) -> str:
    """A message as one paragraph: Hydra's indented option lists joined by commas, line breaks as spaces."""
    parts: list[str] = []
    in_list = False
    for line in printable(text).splitlines():
        item = line.strip()
        if not item:
            continue
        if line[:1] in "\t " and parts and (in_list or parts[-1].endswith(":")):
            parts[-1] += (", " if in_list else " ") + item
            in_list = True
        else:
            parts.append(item)
            in_list = False
    joined = re.sub(r"\s+", " ", " ".join(parts)).strip()
    if len(joined) > MAX_MESSAGE_CHARS:
        half = MAX_MESSAGE_CHARS // 2
        joined = f"{joined[:half]} [...] {joined[-half:]}"
    return joined


def is_user_error(err: BaseException) -> bool:
    """A mistake in what the user gave (config, paths, files), as opposed to a defect of the program."""
    from hydra.errors import CompactHydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, FERError | CompactHydraException | MissingConfigException | OverrideParseException):
        return True
    # raised while composing or reading the config (e.g. a missing ??? value, an unresolvable interpolation)
    return isinstance(err, OmegaConfBaseException)


def user_error_message(err: BaseException) -> str:
    """The paragraph printed for a user error: the message, and Hydra's cause when it adds one."""
    text = (str(err) or type(err).__name__).split("Config search path:")[0]  # Hydra's search path: noise here
    cause = err.__cause__
    if cause is not None and not isinstance(err, FERError) and str(cause) and str(cause) not in text:
        text += f" ({str(cause).splitlines()[0]})"  # OmegaConf's first line; the rest repeats the key
    return "error: " + one_paragraph(text)


def exit_with_user_error(err: BaseException) -> NoReturn:
    """Print the one paragraph of a user error and exit with USER_ERROR_EXIT (or re-raise with HYDRA_FULL_ERROR)."""
    if os.environ.get("FER_FULL_ERROR") == "1":
        raise err
    sys.stdout.flush()
    print(user_error_message(err), file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR_EXIT) from None


def exit_on_error(step: Callable, *args):
    """Run `step`; a user error exits at once with its paragraph, a defect with its traceback.

    For code that runs inside Hydra (callbacks, job functions), where an exception would be turned into a
    warning (callbacks) or printed after a "Error executing job" line (jobs).
    """
    try:
        return step(*args)
    except Exception as err:
        if not is_user_error(err):
            raise
        exit_with_user_error(err)


def run_cli(hydra_main: Callable[[], object]) -> None:
    """Call a `@hydra.main` function; user errors exit 2 with one paragraph, defects exit 1 with a traceback."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        os.environ["FER_FULL_ERROR"] = "1"
        hydra_main()
        return
    # Hydra prints compose errors itself and exits 1 with a hint to set HYDRA_FULL_ERROR; with it set, it
    # re-raises instead, so every error reaches the one handler below.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_main()
    except Exception as err:
        sys.stdout.flush()
        if is_user_error(err):
            exit_with_user_error(err)
        traceback.print_exc()
        print(
            "\nThis is a defect of fer-lightning, not of your input: please report it with the traceback above.",
            file=sys.stderr,
        )
        sys.exit(DEFECT_EXIT)
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)
