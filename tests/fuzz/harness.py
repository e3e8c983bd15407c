"""The fuzz suite's one harness: run one hostile input through a public loader or command, in-process,
and classify how it ended.

Allowed endings: a project error (a UserError whose one-line, bounded message names the file or field)
or a result that passes the caller's check. Anything else is a finding: a raw exception, a hang past
`timeout_s`, resident memory growing past `mem_mb`, a message without the name, or an input known to be
invalid that was accepted."""
from __future__ import annotations

import enum
import resource
import signal
import traceback
from dataclasses import dataclass, field
from typing import Callable

from hwsim.errors import UserError

MESSAGE_MAX = 2000   # characters: a message shows an excerpt of a value, never its expansion


class Outcome(enum.Enum):
    ERROR = "project error"
    OK = "correct result"
    RAW = "raw exception"
    HANG = "hang"
    MEMORY = "memory growth"
    ACCEPTED_INVALID = "accepted invalid"
    BAD_MESSAGE = "error message without the name, or unbounded"


BAD = {Outcome.RAW, Outcome.HANG, Outcome.MEMORY, Outcome.ACCEPTED_INVALID, Outcome.BAD_MESSAGE}


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that the code under test cannot swallow it."""


@dataclass(frozen=True)
class Case:
    """One generated input: `run()` feeds it to the code under test; `invalid` marks an input the generator
    knows is wrong (accepting it is a finding); `names` are strings of which the error must show one."""
    label: str
    run: Callable[[], object]
    names: tuple[str, ...]
    invalid: bool = False
    check: Callable[[object], str | None] | None = None   # a problem with an accepted result, or None


@dataclass
class Tally:
    counts: dict[Outcome, int] = field(default_factory=lambda: {o: 0 for o in Outcome})
    findings: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, detail: str) -> None:
        self.counts[outcome] += 1
        if outcome in BAD and len(self.findings) < 20:
            self.findings.append(f"{outcome.value}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return ", ".join(f"{o.value} {n}" for o, n in self.counts.items() if n)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


def classify(case: Case, timeout_s: float = 5.0, mem_mb: float = 500.0) -> tuple[Outcome, str]:
    """Run `case` once under a wall-clock alarm; the outcome and a one-line detail."""
    rss0 = _rss_mb()

    def alarm(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        try:
            result = case.run()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    except _Hang:
        return Outcome.HANG, f"{case.label}: no answer within {timeout_s} s"
    except UserError as e:
        msg = str(e)
        grew = _rss_mb() - rss0
        if grew > mem_mb:
            return Outcome.MEMORY, f"{case.label}: resident memory grew {grew:.0f} MB"
        if "\n" in msg or len(msg) > MESSAGE_MAX or not any(n in msg for n in case.names):
            return Outcome.BAD_MESSAGE, f"{case.label}: {type(e).__name__}: {msg[:300]!r} (names {case.names})"
        return Outcome.ERROR, msg
    except (MemoryError, RecursionError, Exception) as e:   # noqa: B014 - the point is to catch anything
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return Outcome.RAW, (f"{case.label}: {type(e).__name__}: {str(e)[:200]} "
                             f"at {tb.filename.rsplit('/', 2)[-1]}:{tb.lineno}")
    grew = _rss_mb() - rss0
    if grew > mem_mb:
        return Outcome.MEMORY, f"{case.label}: resident memory grew {grew:.0f} MB"
    if case.invalid:
        return Outcome.ACCEPTED_INVALID, f"{case.label}: accepted"
    problem = case.check(result) if case.check else None
    if problem:
        return Outcome.ACCEPTED_INVALID, f"{case.label}: result {problem}"
    return Outcome.OK, ""


def run_all(cases, timeout_s: float = 5.0, mem_mb: float = 500.0) -> Tally:
    tally = Tally()
    for case in cases:
        tally.add(*classify(case, timeout_s, mem_mb))
    return tally


def assert_clean(tally: Tally, kind: str, minimum: int) -> None:
    """The fuzz test's verdict: enough inputs, and no finding."""
    print(f"fuzz {kind}: {tally.total} inputs: {tally.summary()}")
    assert tally.total >= minimum, f"{kind}: only {tally.total} inputs generated, want >= {minimum}"
    bad = sum(tally.counts[o] for o in BAD)
    assert bad == 0, f"{kind}: {bad} findings of {tally.total}:\n" + "\n".join(tally.findings)
