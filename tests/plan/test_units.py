import pytest

from sonar.errors import UserError
from sonar.plan.units import format_bytes, format_per_token, parse_tokens


@pytest.mark.parametrize("text,tokens", [("131072", 131_072), ("128K", 131_072), ("10M", 10_485_760),
                                         ("1.5k", 1536)])
def test_parse_tokens(text, tokens):
    assert parse_tokens(text) == tokens


@pytest.mark.parametrize("text", ["-5", "0", "abc", "12G", ""])
def test_bad_token_counts(text):
    with pytest.raises(UserError, match=f"--context {text!r}"):
        parse_tokens(text)


def test_formatting():
    assert format_bytes(515_396_075_520) == "515.40 GB"
    assert format_bytes(2_061_584_302_080) == "2.06 TB"
    assert format_per_token(49_152) == "48 KiB"
