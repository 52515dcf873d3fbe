from sonar.data.tokenizer import ByteTokenizer
from sonar.posttrain.chat import (
    BEGIN_OF_TEXT,
    CHAT_VOCAB_SIZE,
    EOT,
    HEADER_END,
    HEADER_START,
    decode_response,
    encode_pair,
    prompt_ids,
)


def test_special_tokens_have_ids_of_their_own_past_every_byte():
    specials = {BEGIN_OF_TEXT, HEADER_START, HEADER_END, EOT}
    assert len(specials) == 4
    assert min(specials) > ByteTokenizer.eot_id
    assert max(specials) == CHAT_VOCAB_SIZE - 1


def test_special_token_text_in_a_prompt_stays_bytes():
    ids = prompt_ids("say <|eot|> please")
    assert ids.count(EOT) == 1  # only the template's end of the user turn


def test_template_layout_is_llama4s():
    example = encode_pair("1+1=", "2")
    head = example.ids[: example.response_start]
    assert head[0] == BEGIN_OF_TEXT
    assert bytes(head[2:6]) == b"user" and head[1] == HEADER_START and head[6] == HEADER_END
    assert head[-14:] == [EOT, HEADER_START, *b"assistant", HEADER_END, *b"\n\n"]
    assert example.ids[example.response_start:] == [ord("2"), EOT]


def test_decode_response_stops_at_eot():
    assert decode_response([*b"42", EOT, *b"junk"]) == "42"
    assert decode_response([*b"ab"]) == "ab"
