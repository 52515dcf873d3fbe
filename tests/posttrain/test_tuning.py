import pytest

from sonar.errors import UserError
from sonar.posttrain import tuning
from sonar.posttrain.dpo import DPOConfig
from sonar.posttrain.evaluate import EvalConfig
from sonar.posttrain.model_source import load_start
from sonar.posttrain.pipeline import PipelineConfig
from sonar.posttrain.rl import RLConfig
from sonar.posttrain.sft import SFTConfig
from sonar.posttrain.tuning import TuningConfig, tune


def _tiny_pipeline() -> PipelineConfig:
    return PipelineConfig(
        sft=SFTConfig(steps=2, batch_size=4),
        rl=RLConfig(tasks=("brackets",), steps=1, prompts_per_step=2, group_size=2, start_level=1),
        dpo=DPOConfig(steps=1, group_size=2), evaluation=EvalConfig(tasks=("brackets",), levels=(1,), per_cell=2),
        sft_per_cell=4, dpo_per_cell=2)


def test_choices_are_made_on_validation_only(monkeypatch, tmp_path):
    splits, scores = [], iter([0.1, 0.5, 0.3, 0.6,  # RL, per seed: lr 1e-4, lr 1e-3
                               0.2, 0.4, 0.4, 0.6])  # DPO from lr 1e-3, per seed: "nll_weight=0", ""

    def fake_evaluate(model, config):
        splits.append(config.split)
        return {"overall": next(scores)}

    monkeypatch.setattr(tuning, "evaluate_tasks", fake_evaluate)
    config = TuningConfig(pipeline=_tiny_pipeline(), rl_lrs=(1e-4, 1e-3), dpo_candidates=("nll_weight=0", ""))
    record = tune(lambda seed: load_start(None, preset_name="debug", seed=seed), config, [0, 1], tmp_path,
                  log=lambda line: None)
    assert set(splits) == {"validation"} and len(splits) == 8
    # RL means: 1e-4 -> (0.1 + 0.3) / 2, 1e-3 -> (0.5 + 0.6) / 2; DPO: weight 0 -> 0.3, as configured -> 0.5
    assert record["rl_lr"] == 1e-3 and record["dpo"] == ""
    assert record["validation"]["dpo"] == {"nll_weight=0": [0.2, 0.4], "": [0.4, 0.6]}
    assert record["validation"]["rl"] == {"0.0001": [0.1, 0.3], "0.001": [0.5, 0.6]}


@pytest.mark.parametrize("kwargs", [dict(rl_lrs=()), dict(rl_lrs=(0.0,)), dict(dpo_candidates=()),
                                    dict(dpo_candidates=("nll_weight=-1",)), dict(dpo_candidates=("beta",))])
def test_bad_candidates_are_user_errors(kwargs):
    with pytest.raises(UserError):
        TuningConfig(**kwargs)


@pytest.mark.parametrize("kwargs, named", [(dict(dpo_candidates=("", "", "")), "[''] named more than once"),
                                           (dict(rl_lrs=(1e-4, 1e-3, 1e-4)), "[0.0001] named more than once")])
def test_a_value_named_twice_is_refused(kwargs, named):
    with pytest.raises(UserError, match=named.replace("[", r"\[").replace("]", r"\]")):
        TuningConfig(**kwargs)


def test_equal_counts_of_right_answers_tie_and_the_first_listed_wins():
    # the same 625 right answers out of 1800, summed in different orders
    scores = {5e-5: [190 / 600, 199 / 600, 236 / 600], 2e-4: [191 / 600, 200 / 600, 234 / 600]}
    assert tuning._best(scores) == 5e-5
    assert tuning._best({1.0: [0.5, 0.5], 0.2: [0.5, 0.6]}) == 0.2
