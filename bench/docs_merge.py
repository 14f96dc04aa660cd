"""What a partial run keeps of the previous docs/benchmarks.md.

``python -m bench --scenarios city`` measures one scenario, but the page shows them all: the
sections of the scenarios it did not run, their rows in the shared tables (hub figures without a
peer, hub/peer ratios) and their client-bound notes are taken from the previous file as they
were, each section marked with the run it came from. The page is the only committed record
(``bench/results/`` is not), so this works from its Markdown. A row belongs to a scenario when
its metric starts with the scenario's name (every ``headline`` key does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NOTE", "Previous", "belongs", "by_scenario", "parse", "table"]

NOTE = "_Not rerun by the command above: kept from the previous page,"
_DATE = re.compile(r" on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)")
_BOUND = "Client-bound figures: "


@dataclass(frozen=True)
class Previous:
    sections: dict[str, list[str]]  # "## title" → its lines, heading included, trailing blanks dropped
    origin: str  # "generated on <date>, commit <hash>"
    client_bound: list[str]  # "<target> <metric>" items of its client-bound line

    def scenario(self, name: str) -> list[str] | None:
        """The scenario's section, marked with where it came from (once: an older mark stays)."""
        lines = self.sections.get(name)
        if lines is None:
            return None
        if any(line.startswith(NOTE) for line in lines):
            return list(lines)
        return [lines[0], "", f"{NOTE} {self.origin}._", *lines[1:]]

    def rows(self, title: str, names: list[str]) -> tuple[list[str], list[list[str]]]:
        """Header and the rows of the first table under ``title`` whose metric belongs to one of ``names``."""
        header, rows = table(self.sections.get(title, []))
        return header, [r for r in rows if r and belongs(r[0], names)]

    def bound(self, names: list[str]) -> list[str]:
        return [item for item in self.client_bound if belongs(item.partition(" ")[2], names)]


def belongs(metric: str, names: list[str]) -> bool:
    return any(metric.startswith(f"{name} ") for name in names)


def by_scenario(rows: list[list[str]], names: list[str]) -> list[list[str]]:
    """Rows grouped in the order of ``names`` (the page's), each group in its own order; others last."""

    def rank(row: list[str]) -> int:
        return next((i for i, name in enumerate(names) if belongs(row[0], [name])), len(names))

    return sorted(rows, key=rank)


def parse(text: str) -> Previous:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    bound: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        if current is not None:
            current.append(line)
        if line.startswith(_BOUND) and line.rstrip(".") != _BOUND + "none":
            bound = [item.strip() for item in line[len(_BOUND) :].rstrip(".").split("; ") if item.strip()]
    for lines in sections.values():
        while lines and not lines[-1].strip():
            lines.pop()
    date = _DATE.search(text)
    machine = {row[0]: row[1] for row in table(sections.get("Machine", []))[1] if len(row) > 1}
    origin = (
        f"generated on {date.group(1) if date else 'an unknown date'}, commit {machine.get('commit', '?')}, "
        f"CPU {machine.get('CPU', '?')}"
    )
    return Previous(sections, origin, bound)


def table(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """The first Markdown table in ``lines``: its header cells and its rows' cells."""
    cells: list[list[str]] = []
    for line in lines:
        if line.startswith("|"):
            cells.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif cells:
            break
    if len(cells) < 2:
        return [], []
    return cells[0], cells[2:]
