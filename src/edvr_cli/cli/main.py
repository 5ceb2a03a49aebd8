"""The `edvr` command line: parses options, calls the Python API, and turns our errors into one line."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from typing import Any

import click

from edvr_cli import __version__, env
from edvr_cli.errors import EDVRError, Interrupted, first_line
from edvr_cli.guard import signals

#: Commands that load torch: it is imported first, with signals held back (an import cut short by a
#: signal can leave a half-initialised module behind, or swallow the signal).
_HEAVY_COMMANDS = frozenset({"upscale", "deblur", "train", "eval", "compare", "report"})


class _Group(click.Group):
    """A click group whose commands end with one clear stderr line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            words = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if words and words[0] in _HEAVY_COMMANDS and not {"--help", "-h"} & set(words):
                signals.import_deferred("numpy", "av", "torch")  # a signal now waits for the imports, then acts
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except EDVRError as exc:
            click.echo(f"edvr: error: {one_line(str(exc))}", err=True)
            raise click.exceptions.Exit(1) from None
        except KeyboardInterrupt as exc:
            raise click.exceptions.Exit(_interrupted(exc)) from None
        except Exception as exc:  # a bug or an unforeseen failure: still one line, traceback on request
            if env.debug():
                raise
            click.echo(f"edvr: error: {type(exc).__name__}: {first_line(exc)} (set EDVR_DEBUG=1 for a traceback)",
                       err=True)
            raise click.exceptions.Exit(2) from None


def _interrupted(exc: BaseException) -> int:
    """Say which signal stopped the run; the exit status is 128 + its number (130 for Ctrl-C)."""
    if not isinstance(exc, Interrupted) and signals.last_received() is not None:
        exc = Interrupted(signals.last_received() or 2)  # a library re-raised our signal as a KeyboardInterrupt
    code = exc.exit_code if isinstance(exc, Interrupted) else 130
    name = str(exc) if isinstance(exc, Interrupted) else "SIGINT"
    try:
        click.echo(f"edvr: interrupted ({name}); temporary files removed", err=True)
    except (OSError, ValueError):  # stderr gone (a closed terminal)
        pass
    return code


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="edvr")
def cli() -> None:
    """Restore videos with EDVR: 4x upscaling and deblurring that keep audio, timing and colour."""


def main(args: list[str] | None = None) -> int:
    """Console entry point: usage errors, like all others, end with one line on stderr.

    SIGINT, SIGTERM and SIGHUP are routed to cleanup from the first moment on (exit 130/143/129).
    """
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        signals.install()
        signals.raise_if_interrupted()
        rc = cli.main(args=args, prog_name="edvr", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return _interrupted(KeyboardInterrupt())
    except KeyboardInterrupt as exc:  # during start-up or argument parsing
        return _interrupted(exc)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"edvr: error: {one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    finally:
        warnings.showwarning = shown
        signals.forget()


def entry() -> None:
    """The ``edvr`` console script: :func:`main`, then exit with its status.

    After a signal the process ends at once (temporaries are already removed and the line printed):
    an interpreter shutting down while decoder or encoder threads are still inside FFmpeg can crash.
    """
    code = main()
    if code in (129, 130, 143):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    # the work is over and its result in place: a signal during the interpreter's shutdown has nothing
    # left to clean up, and would only turn a finished run into a death by signal
    for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)


def one_line(text: str) -> str:
    """A message as one line: line breaks inside it (a file name with a newline) are shown escaped."""
    return text.strip().replace("\r", "\\r").replace("\n", "\\n")


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Library warnings as one ``edvr: warning:`` line each (no source lines, no file names)."""
    click.echo(f"edvr: warning: {one_line(str(message))}", err=True)


def _register() -> None:
    from edvr_cli.cli.info import info
    from edvr_cli.cli.lab import compare, eval_command, train
    from edvr_cli.cli.report import report
    from edvr_cli.cli.restore import deblur, upscale
    from edvr_cli.cli.weights import weights

    for command in (upscale, deblur, info, weights, train, compare, report):
        cli.add_command(command)
    cli.add_command(eval_command, name="eval")


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
