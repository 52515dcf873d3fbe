import torch

from sonar.posttrain.batching import IGNORE, collate
from sonar.posttrain.chat import EOT, encode_pair


def test_loss_mask_covers_exactly_the_response_tokens():
    examples = [encode_pair("12+30=", "42"), encode_pair("reverse abcdef", "fedcba")]
    inputs_BT, targets_BT = collate(examples)
    for row, e in enumerate(examples):
        labelled = (targets_BT[row] != IGNORE).nonzero().flatten().tolist()
        reply = e.ids[e.response_start:]
        # The reply's tokens (with its <|eot|>) are predicted from the position before each one.
        assert labelled == list(range(e.response_start - 1, len(e.ids) - 1))
        assert targets_BT[row, labelled].tolist() == reply and reply[-1] == EOT
        assert inputs_BT[row, : len(e.ids) - 1].tolist() == e.ids[:-1]


def test_padding_is_never_a_target():
    inputs_BT, targets_BT = collate([encode_pair("a", "b"), encode_pair("a much longer prompt", "b")])
    short = len(encode_pair("a", "b").ids) - 1
    assert (targets_BT[0, short:] == IGNORE).all()
    assert inputs_BT.shape == targets_BT.shape and inputs_BT.dtype == torch.long
