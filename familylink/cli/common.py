"""What every command shares: error handling, progress bars, --quiet, date options."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from familylink.core.errors import FamilylinkError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def handle_errors(command: Callable) -> Callable:
    """Turn library errors into ``Error: ...`` on stderr and exit 1; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FamilylinkError as error:
            err_console.print(f"Error: {error.summary}", markup=False)
            for line in error.render().splitlines()[1:]:
                err_console.print(line, markup=False)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("Interrupted: nothing was left half-written.")
            sys.exit(130)
        except Exception as error:  # the last resort: a failure no library error described
            if os.environ.get("FAMILYLINK_DEBUG"):
                raise
            # the message is not shown: it could quote a value from a file
            err_console.print(f"Error: {command.__name__.replace('_command', '')}: stopped by an unexpected "
                              f"{type(error).__name__}; outputs are written in full or not at all (this is a bug: "
                              "please report it; FAMILYLINK_DEBUG=1 shows the details)", markup=False)
            sys.exit(1)

    return wrapper


quiet_option = click.option("--quiet", "-q", is_flag=True, help="Show no progress bars.")
memory_limit_option = click.option(
    "--memory-limit", default=None, metavar="SIZE",
    help="Memory DuckDB may use, e.g. 8GB or 60% [default: $FAMILYLINK_MEMORY_LIMIT, else half the machine's]. "
         "Beyond it a stage spills to disk or stops with one sentence.")
store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
                            default=Path("familylink.duckdb"), show_default=True,
                            help="The run store (a DuckDB file): runs, stable ids, attachments.")


class DateParam(click.ParamType):
    """An ISO date, YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


DATE = DateParam()


@contextlib.contextmanager
def progress_bars(quiet: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A ``progress(stage, done, total)`` callback drawing one rich bar per stage."""
    if quiet or not sys.stderr.isatty() and not sys.stdout.isatty():
        yield None
        return
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update
