import math

from sonar.search.curves import Forecast
from sonar.search.objective import Point, choose, dominates, eliminated, pareto_front, pareto_order, rank
from sonar.search.spec import Objective


def p(id_, loss, lat, memory=0.0) -> Point:
    return Point(id=id_, loss=Forecast(*loss), latency=Forecast(*lat), memory=memory)


CONSTRAINT = Objective(kind="constraint", latency_s=0.01, memory_bytes=1e6)
PARETO = Objective(kind="pareto")
SCALAR = Objective(kind="scalarized", loss_weight=1.0, latency_weight=100.0)


def test_dominates():
    assert dominates((1, 1), (2, 1)) and not dominates((1, 1), (1, 1)) and not dominates((1, 2), (2, 1))


def test_constraint_elimination():
    sure = p("sure", (1.9, 2.0, 2.1), (0.004, 0.005, 0.006))
    assert eliminated(CONSTRAINT, p("slow", (1, 1, 1), (0.02, 0.03, 0.04)), [sure]).startswith("latency bound")
    assert eliminated(CONSTRAINT, p("big", (1, 1, 1), (0, 0, 0), memory=2e6), [sure]).startswith("memory bound")
    assert eliminated(CONSTRAINT, p("worse", (2.2, 2.5, 3.0), (0, 0.001, 0.02)), [sure]).startswith("beaten")
    # could still beat `sure` on loss: kept
    assert eliminated(CONSTRAINT, p("maybe", (2.0, 2.5, 3.0), (0, 0.001, 0.02)), [sure]) is None
    # `unsure` might miss the bound, so it cannot rule anyone out
    unsure = p("unsure", (1.0, 1.0, 1.0), (0.005, 0.008, 0.02))
    assert eliminated(CONSTRAINT, p("worse", (2.2, 2.5, 3.0), (0, 0.001, 0.02)), [unsure]) is None


def test_pareto_elimination_uses_optimistic_against_pessimistic():
    strong = p("strong", (1.0, 1.1, 1.2), (0.001, 0.002, 0.003))
    assert eliminated(PARETO, p("weak", (1.3, 1.5, 2.0), (0.004, 0.005, 0.006)), [strong])
    # optimistic corner not dominated: kept even though its central point is
    assert eliminated(PARETO, p("hope", (1.1, 1.5, 2.0), (0.004, 0.005, 0.006)), [strong]) is None


def test_scalarized_elimination():
    good = p("good", (1.0, 1.0, 1.0), (0.001, 0.001, 0.001))  # reward <= 1.1
    assert eliminated(SCALAR, p("bad", (1.2, 1.3, 1.4), (0.001, 0.001, 0.001)), [good])
    assert eliminated(SCALAR, p("close", (1.05, 1.3, 1.4), (0.0, 0.001, 0.001)), [good]) is None


def test_dominating_newcomer_ranks_first_in_pareto_mode():
    recorded = [("a", 1.0, 3.0), ("b", 2.0, 2.0), ("c", 3.0, 1.0)]
    newcomer = ("new", 0.5, 0.5)
    for order in (recorded + [newcomer], [newcomer] + recorded):
        ranked = pareto_order(order)
        assert ranked[0] == "new"
        assert ranked[:1] == ["new"]  # at eta = 3, 4 points promote floor(4/3) = 1: the newcomer


def test_pareto_order_is_a_total_order_over_fronts():
    items = [("a", 1, 5), ("b", 2, 4), ("c", 3, 3), ("d", 2, 6), ("e", 4, 4), ("f", 5, 5)]
    ranked = pareto_order(items)
    assert sorted(ranked) == sorted(i[0] for i in items)
    assert set(ranked[:3]) == {"a", "b", "c"}  # the first front comes first
    assert ranked.index("f") == 5


def test_rank_constraint_puts_feasible_first():
    points = [p("fast", (2, 2, 2), (0.005, 0.005, 0.005)), p("slow", (1, 1, 1), (0.5, 0.5, 0.5))]
    assert rank(CONSTRAINT, points) == ["fast", "slow"]
    assert rank(CONSTRAINT, points, loss_only=True) == ["slow", "fast"]


def test_rank_constraint_ranks_an_untuned_candidate_on_loss_beside_the_feasible_ones():
    points = [p("fast", (2, 2, 2), (0.005, 0.005, 0.005)), p("slow", (1, 1, 1), (0.5, 0.5, 0.5)),
              p("untuned", (1.5, 1.5, 1.5), (0.0, math.inf, math.inf))]
    assert rank(CONSTRAINT, points) == ["untuned", "fast", "slow"]


def test_rank_constraint_hopeful_puts_a_candidate_behind_only_when_even_its_optimistic_latency_misses():
    # `maybe`'s central forecast misses the bound but its optimistic one meets it: only the central test ranks
    # it behind a candidate never measured; `hopeless` misses even optimistically, and stays behind either way
    points = [p("maybe", (1.0, 1.0, 1.0), (0.004, 0.02, 0.05)),
              p("untuned", (1.5, 1.5, 1.5), (0.0, math.inf, math.inf)),
              p("hopeless", (0.5, 0.5, 0.5), (0.03, 0.04, 0.05)),
              p("fast", (2, 2, 2), (0.005, 0.005, 0.005))]
    assert rank(CONSTRAINT, points) == ["untuned", "fast", "hopeless", "maybe"]
    assert rank(CONSTRAINT, points, hopeful=True) == ["maybe", "untuned", "fast", "hopeless"]
    assert rank(PARETO, points, hopeful=True) == rank(PARETO, points)


def test_choose_and_front():
    measured = [("a", 1.0, 0.02, 0), ("b", 2.0, 0.005, 0), ("c", 2.5, 0.004, 0), ("d", math.inf, 0.001, 0)]
    assert choose(CONSTRAINT, measured) == "b"
    assert choose(Objective(kind="constraint", latency_s=1e-4), measured) is None
    assert choose(SCALAR, measured) == "b"
    assert set(pareto_front([m[:3] for m in measured])) == {"a", "b", "c"}
    assert choose(PARETO, measured) in {"a", "b", "c"}
