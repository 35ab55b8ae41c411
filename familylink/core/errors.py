"""The error hierarchy. Every error carries every problem found, each with its location.

Library code raises these; only the CLI turns them into ``Error: ...`` lines and exit codes.
A problem never contains a personal value: it names the file, row and column instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where it is, what is wrong, and how to fix it."""

    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text} ({self.fix})" if self.fix else text


class FamilylinkError(Exception):
    """Base of every error a user can cause. ``summary`` is one sentence."""

    def __init__(self, summary: str, problems: Iterable[Problem] = ()) -> None:
        self.summary = summary
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.render())

    def __reduce__(self):  # keep summary and problems when raised in a worker process
        return (self.__class__, (self.summary, self.problems))

    def render(self, limit: int = 50) -> str:
        lines = [self.summary]
        for problem in self.problems[:limit]:
            lines.append(f"  - {problem}")
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


class ConfigError(FamilylinkError):
    """A configuration document (agreement, framework, linkage settings) is invalid."""


class KeyFileError(FamilylinkError):
    """A key file is missing, malformed, has unsafe permissions or would be overwritten."""


class ExtractError(FamilylinkError):
    """A raw extract cannot be used as a whole (wrong encoding, missing column, ...)."""


class SealedExtractError(FamilylinkError):
    """A sealed extract fails verification or does not fit the others."""


class LinkageError(FamilylinkError):
    """The sealed extracts hold too little to link (no pair of records to learn from)."""


class OutputExistsError(FamilylinkError):
    """The output already exists and the command refuses to overwrite it."""


class StoreError(FamilylinkError):
    """The run store cannot be opened, is from another version, or refuses an operation."""
