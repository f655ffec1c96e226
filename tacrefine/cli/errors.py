"""One entry wrapper for every script: bad input is one line and exit code 2, never a traceback.

Why: a user who gives a read-only ``--out``, a damaged file or a folder that another job
uses needs to read what is wrong and where, not a traceback through our internals; a
developer chasing a bug needs the traceback. :func:`cli_entry` decorates each script's
``main``: it takes ``--debug`` out of the arguments (anywhere on the command line; or
``TACREFINE_DEBUG=1``), turns SIGTERM / SIGHUP into an interrupt (so ``finally`` blocks
run: worker pools shut down, Ray tasks are cancelled, manifests are saved), and maps

* refusals of input and environment (:class:`~tacrefine.config.ConfigError`, dataset,
  checkpoint, task and output-lock errors, ``OSError`` such as a read-only or missing
  path, ``ValueError``) to ``error: <message>`` on stderr and exit code 2;
* an interrupt to exit code 130 ("rerun the same command to resume").

Anything else is a bug: its traceback is shown (exit code 1). Scripts that catch errors
themselves report them through :func:`fail`, so ``--debug`` shows those tracebacks too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

#: Exit code of a refused input (argparse's own usage errors use it too).
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
_state = {"debug": False}

#: Error classes of this project that are refusals, by module (matched only if the module
#: was imported: an exception of a class never imported cannot have been raised).
_PROJECT_ERRORS = {
    "tacrefine.config": "ConfigError",
    "tacrefine.data.shard_format": "DatasetError",
    "tacrefine.policy.checkpoint": "CheckpointError",
    "tacrefine.parallel.base": "TaskError",
    "tacrefine.lock": "OutputLockedError",
    "tacrefine.envs.env_setup": "UngraspableObjectError",
}


def refusal_types() -> tuple[type[BaseException], ...]:
    """The exception classes that mean "bad input or environment", not "bug"."""
    found: list[type[BaseException]] = [OSError, ValueError]
    for module, name in _PROJECT_ERRORS.items():
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def message(exc: BaseException) -> str:
    """What to print for a refusal: the message (our errors name the field or file), with the
    exception class for foreign errors whose text alone is unclear (a bare KeyError)."""
    text = str(exc).strip()
    if text and (type(exc).__module__.startswith("tacrefine") or isinstance(exc, OSError)):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fail(exc: BaseException, code: int = EXIT_INPUT) -> int:
    """Report a refused input (traceback first with ``--debug``) and return the exit code."""
    if _state["debug"]:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"error: {message(exc)}", file=sys.stderr)
    return code


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread while the script runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for s in saved:
        signal.signal(s, _interrupt)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def cli_entry(main: Callable[..., int]) -> Callable[..., int]:
    """Decorate a script's ``main(argv) -> exit code`` (see the module docstring); keyword
    arguments (the ``tacrefine`` command's ``prog``) pass through."""

    @functools.wraps(main)
    def run(argv: Sequence[str] | None = None, **kwargs: Any) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        debug = "--debug" in args or os.environ.get("TACREFINE_DEBUG", "") not in ("", "0")
        args = [a for a in args if a != "--debug"]
        saved, _state["debug"] = _state["debug"], debug
        try:
            with _signals_interrupt():
                return main(args, **kwargs)
        except KeyboardInterrupt:
            print("interrupted; rerun the same command to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:
            if not isinstance(exc, refusal_types()):
                raise
            return fail(exc)
        finally:
            _state["debug"] = saved

    return run


__all__ = ["EXIT_INPUT", "EXIT_INTERRUPTED", "cli_entry", "fail", "message", "refusal_types"]
