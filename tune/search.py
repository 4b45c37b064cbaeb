"""Coordinate descent over the serving knobs, seeded from the defaults, pruning the knobs that do not matter.

Pure logic: ``evaluate`` (a candidate → its score) is given by the caller, so unit tests drive it with a formula.

The rule: knobs are visited one at a time in a fixed order. On each knob the search walks away from the current
value in both directions, one neighbour at a time, and stops a direction at the first value that is worse by more
than ``min_gain`` than the one before it (the objective is assumed unimodal along one ordered knob; the values of
an unordered one, the variants, are all tried). The best value
found replaces the incumbent only if it beats it by more than ``min_gain``. A knob whose every value scored
within ``min_gain`` of the incumbent is *flat* and is not visited again. Passes repeat until one changes nothing,
``max_passes`` is reached or time runs out; every candidate is measured at most once, so the order of
measurements, and hence the winner, depends only on the inputs and on the scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from tune.knobs import Knobs
from tune.objective import Score


@dataclass(frozen=True)
class Axis:
    """One knob (or a pair that moves together) and the values the search may give it, in order.

    Attributes:
        name: What tables call it.
        fields: The :class:`Knobs` fields it sets; a value is a tuple of one value per field.
        values: The values in their natural order (neighbours are adjacent).
        ordered: Neighbours score alike, so a walk may stop at the first worse value; ``False`` (variants)
            tries every value.
    """

    name: str
    fields: tuple[str, ...]
    values: tuple[tuple[object, ...], ...]
    ordered: bool = True

    def value_of(self, knobs: Knobs) -> tuple[object, ...]:
        """The axis's value in ``knobs``."""
        return tuple(getattr(knobs, name) for name in self.fields)

    def set(self, knobs: Knobs, value: tuple[object, ...]) -> Knobs:
        """``knobs`` with the axis at ``value``."""
        return replace(knobs, **dict(zip(self.fields, value)))

    def line(self, knobs: Knobs) -> tuple[list[tuple[object, ...]], int]:
        """The axis's values with the current one in its place, and its index."""
        current = self.value_of(knobs)
        values = list(self.values)
        if current not in values:
            values.append(current)
            try:
                values.sort()
            except TypeError:
                values.remove(current)
                values.insert(0, current)
        return values, values.index(current)


def single(name: str, values: Sequence[object], ordered: bool = True) -> Axis:
    """An axis of one :class:`Knobs` field."""
    return Axis(name, (name,), tuple((v,) for v in values), ordered)


class OutOfTime(Exception):
    """The time budget is spent: the search ends with the best so far."""


@dataclass
class Trial:
    """One measured candidate.

    Attributes:
        index: 1 for the first candidate measured.
        knobs: The candidate.
        score: What it scored.
        axis: The axis being walked when it was measured (``start`` for the seed).
    """

    index: int
    knobs: Knobs
    score: Score
    axis: str


@dataclass
class CoordinateSearch:
    """The search state; :meth:`run` fills it, so what was measured survives an interrupt.

    Attributes:
        axes: Knobs in the order they are visited.
        min_gain: Relative difference below which two scores count as equal (measurement noise).
        max_passes: Passes over every axis at most.
        trials: Every candidate measured, in order.
        best: The incumbent.
        flat: Axes pruned because no value moved the score.
    """

    axes: Sequence[Axis]
    min_gain: float = 0.03
    max_passes: int = 2
    trials: list[Trial] = field(default_factory=list)
    best: Trial | None = None
    flat: list[str] = field(default_factory=list)
    _seen: dict[Knobs, Trial] = field(default_factory=dict)

    def run(self, start: Knobs, evaluate: Callable[[Knobs], Score], out_of_time: Callable[[], bool],
            on_trial: Callable[[Trial, Trial], None] | None = None) -> Trial:
        """Search from ``start``; return the best candidate.

        Args:
            start: The seed, measured first whatever the time left (the defaults: every ratio needs them).
            evaluate: Measures a candidate.
            out_of_time: Checked before each measurement; true ends the search.
            on_trial: Called after each measurement with the trial and the best so far.
        """
        try:
            self.best = self._measure(start, "start", evaluate, lambda: False, on_trial)
            for _ in range(self.max_passes):
                improved = False
                for axis in self.axes:
                    if axis.name in self.flat:
                        continue
                    improved |= self._walk(axis, evaluate, out_of_time, on_trial)
                if not improved:
                    break
        except OutOfTime:
            pass
        assert self.best is not None
        return self.best

    def _walk(self, axis: Axis, evaluate: Callable[[Knobs], Score], out_of_time: Callable[[], bool],
              on_trial: Callable[[Trial, Trial], None] | None) -> bool:
        assert self.best is not None
        incumbent = self.best
        values, here = axis.line(incumbent.knobs)
        if len(values) < 2:
            return False
        found: list[Trial] = []
        try:
            for step in (1, -1):
                previous = incumbent.score
                index = here + step
                while 0 <= index < len(values):
                    trial = self._measure(axis.set(incumbent.knobs, values[index]), axis.name, evaluate,
                                          out_of_time, on_trial)
                    found.append(trial)
                    if axis.ordered and previous.beats(trial.score, self.min_gain):
                        break  # worse than its neighbour: this direction is done
                    previous = trial.score
                    index += step
        except OutOfTime:
            self._promote(found, incumbent)  # what this axis found before time ran out still counts
            raise
        if self._promote(found, incumbent):
            return True
        if all(not t.score.beats(incumbent.score, self.min_gain) and not incumbent.score.beats(t.score, self.min_gain)
               for t in found):
            self.flat.append(axis.name)
        return False

    def _promote(self, found: list[Trial], incumbent: Trial) -> bool:
        """Make the best of ``found`` the incumbent if it beats ``incumbent`` by more than ``min_gain``."""
        winner = max(found, key=lambda t: t.score, default=None)
        if winner is not None and winner.score.beats(incumbent.score, self.min_gain):
            self.best = winner
            return True
        return False

    def _measure(self, knobs: Knobs, axis: str, evaluate: Callable[[Knobs], Score], out_of_time: Callable[[], bool],
                 on_trial: Callable[[Trial, Trial], None] | None) -> Trial:
        if knobs in self._seen:
            return self._seen[knobs]
        if out_of_time():
            raise OutOfTime
        trial = Trial(len(self.trials) + 1, knobs, evaluate(knobs), axis)
        self._seen[knobs] = trial
        self.trials.append(trial)
        if on_trial:
            on_trial(trial, max(self.trials, key=lambda t: t.score))
        return trial
