"""Named physics parameter sets with units and sources.

A set is one TOML file: ``kmc/params/NAME.toml`` for a named set, or any path. Each entry is
``{value, unit, source}`` under a section per mechanism. Events read entries with
`ParameterSet.get(section, name, unit)`, which refuses a unit that differs from the one
the event expects, so a file cannot silently change the meaning of a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kmc.errors import Problem, UserError

_HERE = Path(__file__).parent


def available() -> list[str]:
    """Names of the parameter sets shipped with kmc."""
    return sorted(p.stem for p in _HERE.glob("*.toml"))


@dataclass(frozen=True)
class Entry:
    value: float
    unit: str
    source: str


class ParameterSet:
    """A validated, read-only parameter set. ``entries[(section, name)] -> Entry``."""

    def __init__(self, name: str, description: str, entries: dict[tuple[str, str], Entry]):
        self.name = name
        self.description = description
        self.entries = dict(entries)

    def get(self, section: str, name: str, unit: str) -> float:
        """The value of ``section.name``, which must be given in ``unit``."""
        entry = self.entries.get((section, name))
        if entry is None:
            raise UserError(Problem(f"params {self.name}: {section}.{name}", None, f"required by the {section} event, in {unit}"))
        if entry.unit != unit:
            raise UserError(Problem(f"params {self.name}: {section}.{name}.unit", entry.unit, f"the {section} event expects {unit!r}"))
        return entry.value

    def markdown(self) -> str:
        """The set as a markdown table: section, entry, value, unit, source."""
        lines = [f"# Parameter set `{self.name}`", "", self.description, "",
                 "| section | entry | value | unit | source |", "|---|---|---|---|---|"]
        for (section, name), e in self.entries.items():
            lines.append(f"| {section} | {name} | {e.value:g} | {e.unit} | {e.source.replace('|', '/')} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "description": self.description}
        for (section, name), e in self.entries.items():
            out.setdefault(section, {})[name] = {"value": e.value, "unit": e.unit, "source": e.source}
        return out

    @classmethod
    def from_dict(cls, data: dict, label: str) -> "ParameterSet":
        problems, entries = [], {}
        for section, table in data.items():
            if section in ("name", "description"):
                continue
            if not isinstance(table, dict):
                problems.append(Problem(f"params {label}: {section}", table, "a table of {value, unit, source} entries"))
                continue
            for name, entry in table.items():
                key = f"params {label}: {section}.{name}"
                if not isinstance(entry, dict) or set(entry) != {"value", "unit", "source"}:
                    problems.append(Problem(key, entry, "a table with exactly the keys value, unit, source"))
                    continue
                if isinstance(entry["value"], bool) or not isinstance(entry["value"], (int, float)):
                    problems.append(Problem(f"{key}.value", entry["value"], "a number"))
                    continue
                if not str(entry["source"]).strip() or not str(entry["unit"]).strip():
                    problems.append(Problem(f"{key}.source", entry["source"], "a non-empty unit and source (a reference, or 'calibrated against ...')"))
                    continue
                entries[(section, name)] = Entry(float(entry["value"]), str(entry["unit"]), str(entry["source"]))
        if problems:
            raise UserError(problems)
        return cls(str(data.get("name", label)), str(data.get("description", "")), entries)


def load(name_or_path: str) -> ParameterSet:
    """Load a shipped set by name (see `available`) or a TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = _HERE / f"{name_or_path}.toml"
        if not path.is_file():
            raise UserError(Problem("params", name_or_path, f"a shipped set ({', '.join(available())}) or a path to a .toml file"))
    from kmc.config import read_toml

    data = read_toml(path, "params", "an existing parameter TOML file", value=name_or_path, prefix="params ")
    return ParameterSet.from_dict(data, path.stem)
