"""User-facing errors: one line per problem, naming the key, the value and what is allowed.

A `UserError` is a mistake in the user's input (config, CLI options, paths). The CLI prints
its lines and exits with code 2 without a traceback; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem with one input key.

    key: dotted key path as the user wrote it, e.g. ``program.segments[1].rate_C_per_min``.
    value: the offending value (``None`` when the key is missing).
    allowed: what would be accepted, in words with units.
    """

    key: str
    value: object
    allowed: str

    def line(self) -> str:
        shown = "(missing)" if self.value is None else repr(self.value)
        return f"{self.key} = {shown}: {self.allowed}"


class UserError(Exception):
    """One or more problems with user input; the CLI prints one line each and exits 2."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, (Problem, str)):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [p.line() if isinstance(p, Problem) else str(p) for p in self.problems]
