"""Confidence intervals for rates, for experiments: how sure a share of successes is, and
whether two of them differ. Pure arithmetic; the formulas are in docs/metrics.md."""

from math import sqrt

Z95 = 1.959963984540054  # the normal quantile for a two-sided 95% interval


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a share: right near 0% and 100% and for small samples,
    where the textbook p ± z·√(p(1-p)/n) says nonsense (an interval of zero width at 0/n)."""
    if trials == 0:
        return 0.0, 1.0
    share = successes / trials
    spread = z * z / trials
    centre = (share + spread / 2) / (1 + spread)
    half = z * sqrt(share * (1 - share) / trials + spread / (4 * trials)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def difference(
    successes: int, trials: int, base_successes: int, base_trials: int, z: float = Z95
) -> tuple[float, float, float]:
    """The difference of two shares (this one minus the base) with Newcombe's hybrid score
    interval, built from the two Wilson intervals (Newcombe 1998, method 10)."""
    share = successes / trials if trials else 0.0
    base = base_successes / base_trials if base_trials else 0.0
    low, high = wilson(successes, trials, z)
    base_low, base_high = wilson(base_successes, base_trials, z)
    gap = share - base
    return (
        gap,
        gap - sqrt((share - low) ** 2 + (base_high - base) ** 2),
        gap + sqrt((high - share) ** 2 + (base - base_low) ** 2),
    )
