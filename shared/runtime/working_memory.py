"""The working memory of a run: named stuffs, recorded absences and aliases (mthds.md §4.1). Pure.

Forking copies the three maps, not the stuffs (which are immutable), so a batch of many items forks
in time proportional to the number of names, never to the size of the values.
"""

from __future__ import annotations

from typing import Any, Final

from shared.runtime.stuff import Absence, Stuff, Value

MAIN_STUFF: Final = "main_stuff"


class WorkingMemory:
    """Names → stuffs or absences, plus aliases (`main_stuff` designates the current result)."""

    __slots__ = ("absences", "aliases", "root")

    def __init__(
        self,
        root: dict[str, Stuff] | None = None,
        aliases: dict[str, str] | None = None,
        absences: dict[str, Absence] | None = None,
    ) -> None:
        self.root: dict[str, Stuff] = root if root is not None else {}
        self.aliases: dict[str, str] = aliases if aliases is not None else {}
        self.absences: dict[str, Absence] = absences if absences is not None else {}

    def lookup(self, name: str) -> Value | None:
        """What `name` holds, following one alias; None when the memory knows nothing of it."""
        if name in self.root:
            return self.root[name]
        if name in self.absences:
            return self.absences[name]
        target = self.aliases.get(name)
        if target is None:
            return None
        return self.root.get(target) or self.absences.get(target)

    def store(self, name: str, stuff: Stuff, *, main: bool = True) -> None:
        self.absences.pop(name, None)
        self.aliases.pop(name, None)
        # Under the key `main_stuff` a stuff keeps its own name (snake_case of its concept, §4.1).
        self.root[name] = stuff if name == MAIN_STUFF or stuff.name == name else stuff.renamed(name)
        if main and name != MAIN_STUFF:
            self.aliases[MAIN_STUFF] = name

    def record_absence(self, name: str, absence: Absence, *, main: bool = True) -> None:
        self.root.pop(name, None)
        self.aliases.pop(name, None)
        keep = name == MAIN_STUFF or absence.variable_name == name
        self.absences[name] = absence if keep else absence.renamed(name)
        if main and name != MAIN_STUFF:
            self.aliases[MAIN_STUFF] = name

    def put(self, name: str, value: Value, *, main: bool = True) -> None:
        if isinstance(value, Stuff):
            self.store(name, value, main=main)
        else:
            self.record_absence(name, value, main=main)

    def add_alias(self, alias: str, target: str) -> None:
        self.aliases[alias] = target

    def main(self) -> Value | None:
        return self.lookup(MAIN_STUFF)

    def main_name(self) -> str | None:
        if MAIN_STUFF in self.root or MAIN_STUFF in self.absences:
            return MAIN_STUFF
        return self.aliases.get(MAIN_STUFF)

    def fork(self) -> WorkingMemory:
        return WorkingMemory(dict(self.root), dict(self.aliases), dict(self.absences))

    def wire(self) -> dict[str, Any]:
        return {
            "root": {name: stuff.wire() for name, stuff in self.root.items()},
            "aliases": dict(self.aliases),
            "absences": {name: absence.wire() for name, absence in self.absences.items()},
        }
