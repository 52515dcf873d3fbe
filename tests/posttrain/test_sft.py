import pytest

from sonar.errors import UserError
from sonar.posttrain.sft import SFTConfig, batch_indices, run_sft
from sonar.posttrain.tasks import generate_examples


def _data(n=40):
    examples = generate_examples("reverse", 1, n, split="train", seed=0)
    return [e.prompt for e in examples], [e.answer for e in examples]


def test_loss_falls_and_nothing_is_pruned_by_default(small_model):
    record = run_sft(small_model, *_data(), SFTConfig(steps=15, batch_size=8, warmup=2))
    assert record["pruned_share"] == 0.0 and record["kept"] == 40
    assert sum(record["losses"][-3:]) < sum(record["losses"][:3])


def test_loss_pruning_drops_the_share_below_the_quantile(small_model):
    record = run_sft(small_model, *_data(), SFTConfig(steps=1, batch_size=4, prune="loss", prune_quantile=0.25))
    assert record["pruned_share"] == pytest.approx(0.25, abs=0.03)


def test_solved_pruning_drops_what_the_model_already_answers(small_model, monkeypatch):
    from sonar.posttrain import prune

    prompts, responses = _data(10)
    monkeypatch.setattr(prune, "greedy_replies", lambda model, ps, max_new_tokens: responses[:4] + ["?"] * 6)
    record = run_sft(small_model, prompts, responses, SFTConfig(steps=1, batch_size=4, prune="solved"))
    assert record["kept"] == 6 and record["pruned_share"] == pytest.approx(0.4)


def test_batches_cover_every_example_once_per_epoch():
    seen = [i for step in range(5) for i in batch_indices(10, step, 4, seed=3)]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))


@pytest.mark.parametrize("kwargs, named", [(dict(steps=0), "steps=0"), (dict(prune="judge"), "prune='judge'"),
                                           (dict(prune_quantile=1.0), "prune_quantile"), (dict(lr=0), "lr=0")])
def test_bad_settings_name_the_value(kwargs, named):
    with pytest.raises(UserError, match=named):
        SFTConfig(**kwargs)
