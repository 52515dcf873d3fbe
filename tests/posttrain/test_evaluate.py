import pytest

from sonar.errors import UserError
from sonar.posttrain import evaluate
from sonar.posttrain.evaluate import EvalConfig, evaluate_tasks
from sonar.posttrain.tasks import split_of


def test_accuracy_per_task_and_level_counts_exact_matches(monkeypatch):
    def half_right(model, prompts, *, max_new_tokens):  # right on "addition", wrong elsewhere
        return [str(sum(int(x) for x in p.rstrip("=").split("+"))) if "+" in p else "?" for p in prompts]

    monkeypatch.setattr(evaluate, "greedy_replies", half_right)
    result = evaluate_tasks(None, EvalConfig(tasks=("addition", "reverse"), levels=(1, 2), per_cell=5))
    cells = {(c["task"], c["level"]): c["accuracy"] for c in result["cells"]}
    assert cells == {("addition", 1): 1.0, ("addition", 2): 1.0, ("reverse", 1): 0.0, ("reverse", 2): 0.0}
    assert result["overall"] == 0.5 and result["by_level"] == {"1": 0.5, "2": 0.5}


def test_validation_prompts_are_scored_when_asked(monkeypatch):
    seen = []
    monkeypatch.setattr(evaluate, "greedy_replies", lambda model, prompts, *, max_new_tokens: seen.extend(prompts)
                        or ["?"] * len(prompts))
    evaluate_tasks(None, EvalConfig(tasks=("sort",), levels=(2,), per_cell=5, split="validation"))
    assert len(seen) == 5 and {split_of(p) for p in seen} == {"validation"}


def test_a_real_model_is_scored_on_greedy_replies(small_model):
    result = evaluate_tasks(small_model, EvalConfig(tasks=("brackets",), levels=(1,), per_cell=4))
    assert result["cells"][0]["n"] == 4 and 0 <= result["overall"] <= 1


@pytest.mark.parametrize("kwargs", [dict(levels=()), dict(levels=(0,)), dict(per_cell=0), dict(tasks=("x",)),
                                    dict(split="train")])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(UserError):
        EvalConfig(**kwargs)
