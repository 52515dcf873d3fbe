import pytest

from sonar.errors import UserError
from sonar.posttrain.user_data import read_pairs, read_preferences


def test_reads_pairs_and_preferences(tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text('{"prompt": "hi", "response": "hello"}\n\n{"prompt": "2+2=", "response": "4"}\n')
    assert [p.response for p in read_pairs(sft)] == ["hello", "4"]
    dpo = tmp_path / "dpo.jsonl"
    dpo.write_text('{"prompt": "2+2=", "chosen": "4", "rejected": "5"}\n')
    assert read_preferences(dpo)[0].rejected == "5"


@pytest.mark.parametrize("lines, named", [
    (['{"prompt": "a", "response": "b"}', "{not json"], "line 2: not valid JSON"),
    (['["prompt", "response"]'], "line 1: expected a JSON object"),
    (['{"prompt": "a"}'], "line 1: missing ['response']"),
    (['{"prompt": "a", "response": 3}'], "line 1: ['response'] must be non-empty strings"),
    ([""], "holds no records"),
])
def test_bad_lines_are_one_line_errors_naming_the_line(tmp_path, lines, named):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as err:
        read_pairs(path)
    assert named in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_wrong_encoding(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_pairs(tmp_path / "absent.jsonl")
    (tmp_path / "latin.jsonl").write_bytes(b'{"prompt": "\xe9"}')
    with pytest.raises(UserError, match="not UTF-8"):
        read_preferences(tmp_path / "latin.jsonl")


def test_a_preference_between_two_equal_replies_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "dpo.jsonl"
    path.write_text('{"prompt": "2+2=", "chosen": "4", "rejected": "5"}\n{"prompt": "1+1=", "chosen": "2", '
                    '"rejected": "2"}\n')
    with pytest.raises(UserError, match="line 2: 'chosen' and 'rejected' are the same reply"):
        read_preferences(path)
