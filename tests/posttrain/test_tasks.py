import pytest

from sonar.errors import UserError
from sonar.posttrain.tasks import MAX_LEVEL, TASKS, Example, generate_examples, in_test_split, verify


@pytest.mark.parametrize("task", sorted(TASKS))
def test_splits_are_disjoint_and_seeded(task):
    train = generate_examples(task, 3, 60, split="train", seed=1)
    test = generate_examples(task, 3, 30, split="test", seed=1)
    assert not {e.prompt for e in train} & {e.prompt for e in test}
    assert all(in_test_split(e.prompt) for e in test) and not any(in_test_split(e.prompt) for e in train)
    assert train == generate_examples(task, 3, 60, split="train", seed=1)
    assert train != generate_examples(task, 3, 60, split="train", seed=2)


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
