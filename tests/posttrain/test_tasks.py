import pytest

from sonar.errors import UserError
from sonar.posttrain.tasks import MAX_LEVEL, TASKS, Example, generate_examples, split_of, verify


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("level", [1, 3])
def test_the_three_splits_never_share_a_prompt_and_are_seeded(task, level):
    drawn = {split: [e for seed in (0, 1, 2) for e in generate_examples(task, level, 40, split=split, seed=seed)]
             for split in ("train", "validation", "test")}
    prompts = {split: {e.prompt for e in drawn[split]} for split in drawn}
    assert not prompts["train"] & prompts["validation"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["validation"] & prompts["test"]
    for split, examples in drawn.items():
        assert {split_of(e.prompt) for e in examples} == {split}
    seed_1 = generate_examples(task, level, 40, split="validation", seed=1)
    assert seed_1 == drawn["validation"][40:80]
    if level == 3:  # level 1 of some tasks has a handful of prompts, so seeds may draw the same ones
        assert seed_1 != generate_examples(task, level, 40, split="validation", seed=2)


def test_answers_are_right():
    for e in generate_examples("addition", 3, 20, split="train", seed=0):
        a, b = e.prompt.rstrip("=").split("+")
        assert int(e.answer) == int(a) + int(b) and len(a) == 3
    for e in generate_examples("reverse", 2, 20, split="train", seed=0):
        assert e.answer == e.prompt.split()[1][::-1]
    for e in generate_examples("count", 2, 20, split="train", seed=0):
        _, letter, _, word = e.prompt.split()
        assert int(e.answer) == word.count(letter)
    for e in generate_examples("sort", 2, 20, split="train", seed=0):
        assert e.answer.split() == sorted(e.prompt.split()[1:])
    answers = {e.answer for e in generate_examples("brackets", 3, 60, split="train", seed=0)}
    assert answers == {"yes", "no"}


def test_difficulty_grows_with_level():
    lengths = [len(generate_examples("reverse", lv, 1, split="train", seed=0)[0].answer) for lv in (1, MAX_LEVEL)]
    assert lengths[0] < lengths[1]


def test_verifier_is_exact_match_after_strip():
    e = Example(task="addition", level=1, prompt="2+3=", answer="5")
    assert verify(e, " 5\n") and not verify(e, "55") and not verify(e, "")


@pytest.mark.parametrize("kwargs, named", [(dict(task="mul", level=1), "mul"), (dict(task="sort", level=9), "level=9"),
                                           (dict(task="sort", level=1, split="dev"), "split")])
def test_bad_task_settings_are_one_line_errors(kwargs, named):
    with pytest.raises(UserError, match=named) as err:
        generate_examples(count=1, **{"split": "train", "seed": 0, **kwargs})
    assert "\n" not in str(err.value)


def test_a_repeated_task_is_refused():
    from sonar.posttrain.tasks import check_tasks

    with pytest.raises(UserError, match=r"tasks=\['sort', 'sort'\]: a task is repeated"):
        check_tasks(["sort", "sort"])
