"""The intervals behind experiments, against published values and the binomial distribution."""

from math import comb

import pytest

from memberflow.analytics.stats import difference, wilson


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [  # Newcombe (1998), "Two-sided confidence intervals for the single proportion", method 3
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_the_published_intervals(successes, trials, low, high):
    found = wilson(successes, trials)
    assert found == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [  # Newcombe (1998), "Interval estimation for the difference between independent
        # proportions", method 10 (hybrid score)
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.0582, 0.8062),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_the_difference_matches_the_published_intervals(a, b, low, high):
    gap, found_low, found_high = difference(*a, *b)
    assert gap == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert (found_low, found_high) == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(("trials", "rate"), [(100, 0.3), (400, 0.05), (50, 0.5)])
def test_the_95_percent_interval_covers_the_true_rate_about_95_percent_of_the_time(trials, rate):
    """Exactly, over every outcome of a binomial experiment: the probability that the interval
    from k successes holds the true rate (Wilson's wobbles around 95%, never far)."""
    coverage = sum(
        comb(trials, k) * rate**k * (1 - rate) ** (trials - k)
        for k in range(trials + 1)
        if wilson(k, trials)[0] <= rate <= wilson(k, trials)[1]
    )
    assert 0.93 <= coverage <= 0.97


def test_no_messages_says_nothing_is_known():
    assert wilson(0, 0) == (0.0, 1.0)
