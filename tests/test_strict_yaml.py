import pytest
import yaml

from sonar.strict_yaml import DuplicateKeyError, safe_load


def test_reads_what_safe_load_reads():
    text = "name: x\nbudget: {max_steps: 8, min_steps: 1}\nlist: [1, 2]\n"
    assert safe_load(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text, key", [("seed: 1\nname: x\nseed: 2\n", "'seed'"),
                                       ("budget:\n  max_steps: 8\n  max_steps: 9\n", "'max_steps'"),
                                       ("- {a: 1, a: 1}\n", "'a'")])
def test_a_repeated_key_is_refused_where_it_is(text, key):
    with pytest.raises(DuplicateKeyError, match=f"key {key} appears twice") as info:
        safe_load(text)
    assert info.value.problem_mark.line == text.count("\n") - 1  # the repeat's line, 0-based


def test_a_key_may_override_one_merged_in():
    assert safe_load("base: &b {p: 1, q: 2}\nd:\n  <<: *b\n  p: 3\n")["d"] == {"p": 3, "q": 2}
