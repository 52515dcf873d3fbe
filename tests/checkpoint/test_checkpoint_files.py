"""Reading a damaged checkpoint is one CheckpointError naming the file; saving never loses a user's files."""

import errno
import json
import os

import pytest
import torch

from sonar.checkpoint import CheckpointError, load_multimodal, load_pretrained, save_pretrained
from sonar.checkpoint.files import check_weights_readable
from sonar.errors import UserError
from sonar.model import build_model, preset
from sonar.outdir import MARKER
from tree_snapshot import snapshot

CONFIG = preset("debug")


@pytest.fixture
def checkpoint(tmp_path):
    save_pretrained(build_model(CONFIG, seed=1), tmp_path / "ckpt")
    return tmp_path / "ckpt"


def _edit_config(path, edit):
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("text, message", [
    ("", "is empty; expected a JSON object"),
    ("   \n", "is empty; expected a JSON object"),
    ('{"hidden_size": 64,', "invalid JSON"),
    ("[1, 2]", "the root is a JSON list; expected an object"),
    ('"llama"', "the root is a JSON str; expected an object"),
    (b"\xff\xfe\x00garbage", "cannot be read"),
])
def test_a_malformed_config_json_is_named(checkpoint, text, message):
    file = checkpoint / "config.json"
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    for load in (load_pretrained, load_multimodal):
        with pytest.raises(CheckpointError, match=f"^{file}: {message}"):
            load(checkpoint)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(hidden_size="wide"), "hidden_size"),
    (lambda c: c.update(num_hidden_layers=-1), "num_hidden_layers"),
    (lambda c: c.update(model_type="gpt2"), "model_type='gpt2'"),
    (lambda c: c.update(model_type="llama4", text_config=None), "text_config=None: must be an object"),
    (lambda c: c.update(rope_parameters={"rope_type": "llama3", "rope_theta": 1e4}), "missing key 'factor'"),
    (lambda c: c.update(eos_token_id={"a": 1}), "eos_token_id"),
    # read by truth value, each of these meant "use RoPE" on every layer without a word
    (lambda c: c.update(no_rope_layers=["false", 1]), "no_rope_layers=.*must be a list of 0"),
    (lambda c: c.update(no_rope_layers=[-1, 1]), "no_rope_layers=.*must be a list of 0"),
    (lambda c: c.update(no_rope_layers="0101"), "no_rope_layers=.*must be a list of 0"),
])
def test_a_config_with_a_bad_key_is_named(checkpoint, edit, message):
    _edit_config(checkpoint, edit)
    with pytest.raises(UserError, match=f"^{checkpoint / 'config.json'}: .*{message}"):
        load_pretrained(checkpoint)


def test_a_missing_config_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty"])
def test_damaged_weights_are_named(checkpoint, damage):
    file = checkpoint / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes({"truncated": data[: len(data) // 2], "random": os.urandom(4096), "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=f"^{file}: not a readable safetensors file"):
        check_weights_readable(checkpoint)
    with pytest.raises(CheckpointError, match=f"^{file}: not a readable safetensors file"):
        load_pretrained(checkpoint)


@pytest.mark.parametrize("index, message", [
    ("not json", "invalid JSON"),
    ('{"weight_map": [1]}', "'weight_map' must map tensor names to file names"),
    ('{"weight_map": {"a": "../../etc/passwd"}}', "shard names must be plain file names"),
])
def test_a_bad_shard_index_is_named(checkpoint, index, message):
    (checkpoint / "model.safetensors.index.json").write_text(index)
    with pytest.raises(CheckpointError, match=message):
        load_pretrained(checkpoint)


def test_weights_from_another_config_are_named_with_both_shapes(checkpoint):
    _edit_config(checkpoint, lambda c: c.update(intermediate_size_mlp=2 * c["intermediate_size_mlp"]))
    with pytest.raises(CheckpointError, match=r"has shape \(\d+, \d+\), expected \(\d+, \d+\)"):
        load_pretrained(checkpoint)


def test_saving_into_a_non_empty_foreign_directory_is_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "notes.md").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="not empty and holds 1 file.*notes.md.*overwrite"):
        save_pretrained(build_model(CONFIG, seed=1), tmp_path / "ckpt")
    assert snapshot(tmp_path) == before


def test_overwrite_keeps_the_users_files_and_replaces_sonars(checkpoint):
    (checkpoint / "README.md").write_text("model card")
    second = build_model(CONFIG, seed=2)
    save_pretrained(second, checkpoint, overwrite=True)
    assert (checkpoint / "README.md").read_text() == "model card"
    assert torch.equal(load_pretrained(checkpoint).embed.weight, second.embed.weight)


def test_a_sharded_save_over_a_single_file_one_leaves_no_stale_weights(checkpoint):
    save_pretrained(build_model(CONFIG, seed=2), checkpoint, max_shard_bytes=40_000)
    files = set(snapshot(checkpoint))
    assert "model.safetensors" not in files and "model.safetensors.index.json" in files and MARKER in files


def test_disk_full_while_saving_leaves_the_old_checkpoint_and_no_staging_copy(checkpoint, monkeypatch):
    from safetensors import SafetensorError

    before = snapshot(checkpoint.parent)

    def full(*args, **kwargs):  # how safetensors reports ENOSPC
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr("sonar.checkpoint.io.save_file", full)
    with pytest.raises(UserError, match=rf"^{checkpoint}: cannot write \(.*No space left on device"):
        save_pretrained(build_model(CONFIG, seed=2), checkpoint)
    assert snapshot(checkpoint.parent) == before


def test_disk_full_on_config_json_is_one_error(tmp_path, monkeypatch):
    real_write_text = type(tmp_path).write_text

    def full(self, *args, **kwargs):
        if self.name == "config.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "write_text", full)
    with pytest.raises(UserError, match=r"ckpt: cannot write \(No space left on device\)"):
        save_pretrained(build_model(CONFIG, seed=2), tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []
