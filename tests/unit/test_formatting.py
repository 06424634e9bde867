"""One way to write numbers and times, for the CLI and the explorer."""

from __future__ import annotations

import math

from ipuexplore.formatting import percent, ratio, seconds, si


def test_si_keeps_three_significant_digits_and_the_unit():
    assert si(1.234e9, "B") == "1.23 GB"
    assert si(8.18e9) == "8.18 G"
    assert si(512, "B") == "512 B"
    assert si(3) == "3"


def test_seconds_picks_the_unit_that_keeps_three_digits():
    assert [seconds(t) for t in (2.5, 6.01e-3, 3.2e-4, 4.5e-8)] == ["2.5 s", "6.01 ms", "320 µs", "45 ns"]


def test_a_missing_number_is_a_dash_never_a_made_up_one():
    assert {si(None), si(math.nan), seconds(None), seconds(math.inf), percent(None), ratio(0.0)} == {"—"}


def test_percent_and_ratio():
    assert percent(0.1234) == "12.3%"
    assert (ratio(0.0028), ratio(2.436), ratio(12.34)) == ("0.0028x", "2.44x", "12.3x")
