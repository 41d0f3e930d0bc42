"""How a benchmark run is judged: each measure against its target, and the checks that must
hold (every delivery arrived, each once). `report` prints them with the table and gives the
exit status: 1 when a target is missed or a check fails, so a script running the
benchmarks sees a miss without reading their output."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib.metadata import version


@dataclass(frozen=True)
class Check:
    should: str  # what must hold, e.g. "each of the 10,000 events arrived"
    held: bool
    found: str  # what the run found, shown either way


@dataclass
class Verdict:
    """The targets a run was measured against and the checks it made, as it goes."""

    targets: int = 0
    missed: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def at_most(self, measure: str, shown: str, value: float, limit: float, unit: str = "") -> str:
        """`shown` and its target `value <= limit`, met or NOT met, for a table cell."""
        return self._target(measure, shown, value, value <= limit, f"<= {limit:,g}{unit}")

    def at_least(self, measure: str, shown: str, value: float, limit: float, unit: str = "") -> str:
        """`shown` and its target `value >= limit`, met or NOT met, for a table cell."""
        return self._target(measure, shown, value, value >= limit, f">= {limit:,g}{unit}")

    def below(self, measure: str, shown: str, value: float, limit: float, unit: str = "") -> str:
        """`shown` and its target `value < limit`, met or NOT met, for a table cell."""
        return self._target(measure, shown, value, value < limit, f"< {limit:,g}{unit}")

    def _target(self, measure: str, shown: str, value: float, met: bool, bound: str) -> str:
        # A value that could not be measured (NaN) compares false: it misses its target.
        self.targets += 1
        if met:
            return f"{shown} (target {bound}: met)"
        # The value unrounded: 0.898 is shown as 0.90, which looks as if it met >= 0.9.
        self.missed.append(f"{measure}: {shown} ({value:.4g}), target {bound}")
        return f"{shown} (target {bound}: NOT met, {value:.4g})"

    def check(self, should: str, held: bool, found: str) -> None:
        self.checks.append(Check(should, held, found))

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.held]

    def passed(self) -> bool:
        return not self.missed and not self.failed()

    def summary(self) -> str:
        """One line: PASS or FAIL, with the targets met and the checks held."""
        failed = len(self.failed())
        targets = f"{self.targets - len(self.missed)} of {self.targets} targets met" if self.targets else "no targets"
        checks = f"{len(self.checks) - failed} of {len(self.checks)} checks held" if self.checks else "no checks"
        return f"{'PASS' if self.passed() else 'FAIL'}: {targets}, {checks}"


def machine_rows() -> list[tuple[str, str]]:
    return [
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("aiohttp, uvloop", f"{version('aiohttp')}, {version('uvloop')}"),
        ("cpus", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"),
    ]


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print()
    print(f"| {'measure':<{width}} | value |")
    print(f"| {'-' * width} | ----- |")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")


def report(rows: list[tuple[str, str]], verdict: Verdict) -> int:
    """Print the table (the run's rows, the machine, the verdict), each check held or failed,
    each target missed; the exit status: 0 if the run passed, 1 if not."""
    print_table([*rows, *machine_rows(), ("result", verdict.summary())])
    # All on stdout, after the table, so a log of both streams keeps them in order.
    print()
    for check in verdict.checks:
        print(f"{'ok' if check.held else 'CHECK FAILED'}: {check.should} ({check.found})")
    for miss in verdict.missed:
        print(f"TARGET MISSED: {miss}")
    print(verdict.summary(), flush=True)
    return 0 if verdict.passed() else 1
