import math

from sonar.search.population import LadderRatios, RemainingRatios


def test_ratios_are_medians_over_the_candidates_measured_at_both_ends_of_each_stretch():
    curves = [{8: 8.0, 32: 6.0, 128: 5.0}, {8: 10.0, 32: 6.0}, {8: 4.0, 32: 3.0, 128: 2.0}, {8: 9.0}]
    ratios = LadderRatios.fit([8, 32, 128], curves)
    assert ratios.ratios[0] == 0.75  # median of 0.75, 0.6, 0.75
    assert math.isclose(ratios.ratios[1], (5 / 6 + 2 / 3) / 2)
    assert math.isclose(ratios.project(8, 10.0), 10.0 * 0.75 * ratios.ratios[1])
    assert ratios.project(128, 4.2) == 4.2  # already at the horizon
    assert ratios.lows == (0.6, 2 / 3)
    assert math.isclose(ratios.project(8, 10.0, hopeful=True), 10.0 * 0.6 * 2 / 3)


def test_no_projection_off_the_ladder_or_across_an_unmeasured_stretch_or_from_a_diverged_value():
    ratios = LadderRatios.fit([8, 32, 128], [{8: 8.0, 32: 6.0}])
    assert ratios.ratios[1] is None
    assert ratios.project(8, 7.0) is None
    assert ratios.project(16, 7.0) is None
    assert LadderRatios.fit([8, 32], [{8: 8.0, 32: 6.0}]).project(8, math.inf) is None


def test_unusable_values_do_not_enter_the_medians():
    ratios = LadderRatios.fit([1, 4], [{1: math.inf, 4: 2.0}, {1: 0.0, 4: 1.0}, {1: 2.0, 4: 1.0}])
    assert ratios.ratios == (0.5,)


def test_remaining_ratios_keep_each_candidates_whole_gain_together():
    # a's big gain comes between 4 and 16 trials, b's between 16 and 25: chained per-stretch minima
    # would promise both gains at once, the remaining ratio promises the larger one
    curves = [{1: 10.0, 4: 8.0, 16: 2.0, 25: 2.0}, {1: 10.0, 4: 8.0, 16: 8.0, 25: 2.0}]
    remaining = RemainingRatios.fit([1, 4, 16, 25], curves)
    chained = LadderRatios.fit([1, 4, 16, 25], curves)
    assert remaining.project(4, 8.0, hopeful=True) == 2.0
    assert chained.project(4, 8.0, hopeful=True) == 0.5
    assert remaining.project(16, 8.0) == 5.0  # median of 1.0 and 0.25 over b and a
    assert RemainingRatios.fit([1, 4], [{1: 3.0}]).project(1, 3.0) is None  # nobody reached the end
    assert remaining.project(5, 8.0) is None
