"""Does the best trial beat the reference beyond seed-to-seed noise?

A search over loss weights picks the best of many noisy trials: on a small
validation split the winner often beats equal weights by chance only (on the
penguins, "tuned" weights chosen on 51 validation birds scored 6.7 % below
equal weights on test). `check_against_reference` answers the question with
paired executions: the candidate weights and the reference weights are each
trained once per execution seed (execution `i` of both from the same seed,
on the same split), the objective of each execution is computed on the
validation split, and the per-seed improvements are tested against zero
(paired t-test and Wilcoxon signed-rank, `mtl_keras.evaluation.compare_stats`).
The candidate *beats* the reference when the t-test rejects at level `alpha`
with a positive mean improvement; otherwise the reference should be kept.

Use execution seeds the search did not use: the best trial was selected on
the search's own executions, so re-testing on those would favour it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from mtl_keras._validators import check_choice, check_number
from mtl_keras.evaluation.compare_stats import PairedTest, paired_test

__all__ = ["NoiseCheck", "check_against_reference"]


@dataclasses.dataclass(frozen=True)
class NoiseCheck:
    """Paired executions of a candidate and a reference, and the verdict.

    Attributes:
        candidate, reference: The objective per execution, aligned by seed.
        direction: `"max"` or `"min"`: how the objective improves.
        improvement: Paired tests of the per-seed improvement (candidate minus
            reference for `"max"`, reference minus candidate for `"min"`).
        alpha: Level of the test.
    """

    candidate: tuple
    reference: tuple
    direction: str
    improvement: PairedTest
    alpha: float

    @property
    def beats(self) -> bool:
        """Whether the candidate is better beyond the noise (t-test p < alpha, gain > 0)."""
        p = self.improvement.t_pvalue
        return math.isfinite(p) and p < self.alpha and self.improvement.interval.mean > 0

    def text(self, candidate: str = "tuned weights", reference: str = "equal weights") -> str:
        """One plain sentence: the verdict, the mean gain, its interval and p-value."""
        interval = self.improvement.interval
        p = self.improvement.t_pvalue
        p_text = "undefined (no variation)" if not math.isfinite(p) else f"{p:.3f}"
        figures = (f"mean gain {interval.mean:+.4g}, {100 * interval.confidence:g} % interval "
                   f"[{interval.low:+.4g}, {interval.high:+.4g}] over {interval.n} paired "
                   f"executions, paired t-test p = {p_text}")
        if self.beats:
            return f"{candidate} beat {reference} beyond seed-to-seed noise ({figures})."
        return (f"{candidate} did not beat {reference} beyond seed-to-seed noise ({figures}): "
                f"keeping {reference}.")


def check_against_reference(candidate: Sequence[float], reference: Sequence[float],
                            direction: str = "max", alpha: float = 0.05,
                            confidence: float = 0.95) -> NoiseCheck:
    """Tests whether `candidate` improves on `reference`, paired by execution seed.

    Args:
        candidate: The objective of the candidate (e.g. the best trial's
            weights), one value per execution seed.
        reference: The objective of the reference (e.g. equal weights) for
            the same seeds, in the same order.
        direction: `"max"` if a higher objective is better, `"min"` if lower.
        alpha: Level of the paired t-test, in (0, 1).
        confidence: Coverage of the interval of the mean gain.

    Returns:
        A `NoiseCheck`; `beats` is the verdict.

    Raises:
        ValueError: Lists of different lengths or shorter than 2, a bad
            direction, alpha or confidence.

    Example:

    >>> # Δm of the tuned weights on 3 seeds vs equal weights (Δm 0 by definition):
    >>> check = check_against_reference([2.0, -1.0, 1.5], [0.0, 0.0, 0.0])
    >>> check.beats
    False
    >>> check_against_reference([2.0, 2.5, 1.5], [0.0, 0.0, 0.0]).beats
    True
    """
    check_choice(direction, "direction", ("max", "min"))
    check_number(alpha, "alpha", min_value=0, max_value=1, min_exclusive=True,
                 max_exclusive=True)
    candidate, reference = [float(v) for v in candidate], [float(v) for v in reference]
    if len(candidate) != len(reference) or len(candidate) < 2:
        raise ValueError(
            "Expected the candidate and the reference on the same execution seeds, at least 2 "
            f"(a paired test). Received: {len(candidate)} and {len(reference)} values")
    sign = 1.0 if direction == "max" else -1.0
    gains = [sign * (c - r) for c, r in zip(candidate, reference)]
    return NoiseCheck(tuple(candidate), tuple(reference), direction,
                      paired_test(gains, confidence), float(alpha))
