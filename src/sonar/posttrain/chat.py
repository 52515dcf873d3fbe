"""Llama 4's chat template over the byte tokenizer.

Bytes keep ids 0..255 and END_OF_TEXT 256 (sonar.data.tokenizer); Llama 4's special tokens get the next
ids, so a special token can never be spelt by text: "<|eot|>" typed in a prompt is 7 bytes, not the id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sonar.data.tokenizer import ByteTokenizer
from sonar.errors import UserError

_FIRST_SPECIAL = ByteTokenizer.vocab_size
SPECIAL_TOKENS = ("<|begin_of_text|>", "<|header_start|>", "<|header_end|>", "<|eot|>")
BEGIN_OF_TEXT, HEADER_START, HEADER_END, EOT = range(_FIRST_SPECIAL, _FIRST_SPECIAL + len(SPECIAL_TOKENS))
CHAT_VOCAB_SIZE = _FIRST_SPECIAL + len(SPECIAL_TOKENS)

_bytes = ByteTokenizer()


def _text(text: str) -> list[int]:
    return _bytes.encode_batch([text])[0]


def _header(role: str) -> list[int]:
    return [HEADER_START, *_text(role), HEADER_END, *_text("\n\n")]


def prompt_ids(prompt: str) -> list[int]:
    """The user turn and the assistant's header: what the model continues from."""
    return [BEGIN_OF_TEXT, *_header("user"), *_text(prompt), EOT, *_header("assistant")]


def response_ids(response: str) -> list[int]:
    """The assistant's reply as trained on: its text, then <|eot|>."""
    return [*_text(response), EOT]


def decode_response(ids: list[int]) -> str:
    """Text of a generated reply, cut at its first <|eot|> (special ids never decode to text)."""
    ids = list(ids)
    if EOT in ids:
        ids = ids[: ids.index(EOT)]
    return _bytes.decode([i for i in ids if i < _FIRST_SPECIAL])


@dataclass(frozen=True)
class ChatExample:
    """A chat-formatted pair: token ids, and which of them the loss is taken on."""

    ids: list[int]
    response_start: int  # ids[response_start:] are the reply (and its <|eot|>)


def encode_pair(prompt: str, response: str) -> ChatExample:
    head = prompt_ids(prompt)
    return ChatExample(ids=head + response_ids(response), response_start=len(head))


def check_fits(examples: list[ChatExample], max_positions: int, *, what: str = "example", part: str = "") -> None:
    """That every example fits the model's positions: a longer one (a whole book pasted into one JSONL
    line) would not raise but run one forward over it for hours, or exhaust memory."""
    for number, example in enumerate(examples, 1):
        tokens = len(example.ids) - 1  # the inputs: the last id is only a target
        if tokens > max_positions:
            raise UserError(f"{what} {number}{part}: its prompt and reply are {tokens:,} tokens in the chat template; "
                            f"the model reads at most {max_positions:,} (max_position_embeddings): shorten it or "
                            "leave it out")


def check_chat_checkpoint(model_dir: str | Path, vocab_size: int) -> None:
    """That a checkpoint can read the byte-level chat template: enough ids, and bytes as its tokens. A run
    trained on BPE (`sonar train`, a search winner) keeps its tokenizer.json beside config.json; its ids mean
    other text, and every prompt would reach it as noise, with no error."""
    if (Path(model_dir) / "tokenizer.json").is_file():
        raise UserError(f"{model_dir}: trained on a BPE tokenizer (its tokenizer.json), and post-training speaks the "
                        "byte-level chat template, whose ids mean other text to it; train with --tokenizer byte, "
                        "or start from a fresh --preset")
    check_vocab(vocab_size, str(model_dir))


def check_vocab(vocab_size: int, where: str) -> None:
    if vocab_size < CHAT_VOCAB_SIZE:
        raise UserError(f"{where}: vocab_size={vocab_size}, the chat template needs at least {CHAT_VOCAB_SIZE} ids "
                        f"(256 bytes, end-of-text, {', '.join(SPECIAL_TOKENS)})")
