"""The shared-checkpoint pick: the finished leader holds it against running candidates that do not beat it."""

import math

from sonar.search.shared_checkpoint import checkpoint_pick


def curves_loss_at(curves: dict[str, list[tuple[int, float]]]):
    def loss_at(cid: str, step: int) -> float:
        losses = [loss for s, loss in curves[cid] if s <= step]
        return losses[-1] if losses else math.inf
    return loss_at


def test_the_leader_holds_without_running_candidates_or_against_ones_behind_it():
    loss_at = curves_loss_at({"lead": [(8, 3.0), (16, 2.5), (32, 2.0)], "behind": [(8, 3.1), (16, 2.6)]})
    assert checkpoint_pick("lead", {}, loss_at) == "lead"
    assert checkpoint_pick("lead", {"behind": 16}, loss_at) == "lead"


def test_a_tie_with_the_leader_does_not_take_the_pick():
    loss_at = curves_loss_at({"lead": [(8, 3.0), (32, 2.0)], "level": [(8, 3.0)]})
    assert checkpoint_pick("lead", {"level": 8}, loss_at) == "lead"


def test_a_challenger_is_judged_at_its_own_latest_step():
    # ahead at 8, behind at 16 where it now stands: not a challenger
    loss_at = curves_loss_at({"lead": [(8, 3.0), (16, 2.5), (32, 2.0)], "faded": [(8, 2.9), (16, 2.6)]})
    assert checkpoint_pick("lead", {"faded": 16}, loss_at) == "lead"
    assert checkpoint_pick("lead", {"faded": 8}, loss_at) == "faded"


def test_challengers_are_compared_at_the_deepest_step_they_all_share():
    loss_at = curves_loss_at({"lead": [(8, 3.0), (16, 2.8), (32, 2.0)],
                              "deep": [(8, 2.95), (16, 2.5)], "shallow": [(8, 2.9)]})
    assert checkpoint_pick("lead", {"deep": 16, "shallow": 8}, loss_at) == "shallow"  # 2.9 < 2.95 at step 8
    assert checkpoint_pick("lead", {"deep": 16}, loss_at) == "deep"


def test_ties_between_challengers_go_to_the_smaller_id():
    loss_at = curves_loss_at({"lead": [(8, 3.0), (32, 2.0)], "b": [(8, 2.5)], "a": [(8, 2.5)]})
    assert checkpoint_pick("lead", {"b": 8, "a": 8}, loss_at) == "a"
