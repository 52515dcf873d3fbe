"""Weights derived from Meta Llama 4 carry its license notice on save and export; sonar's own do not."""

import json
import shutil
import warnings

import pytest

from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.checkpoint.llama_license import (
    LICENSE_FILE,
    NOTICE_FILE,
    SUMMARY_FILE,
    LlamaNamingWarning,
    carry_license,
)
from sonar.checkpoint.provenance import PROVENANCE_FILE
from sonar.model import build_model, preset
from sonar.outdir import MARKER

OFFICIAL_TEXT = "LLAMA 4 COMMUNITY LICENSE AGREEMENT (stand-in for the official text)\n"


@pytest.fixture
def converted(tmp_path):
    """A small synthetic checkpoint as a conversion of Meta's weights looks: a llama4_text config.json,
    safetensors, Meta's LICENSE beside them, and no sonar record."""
    path = tmp_path / "Llama-4-Scout-converted"
    save_pretrained(build_model(preset("debug"), seed=0), path)
    (path / MARKER).unlink()
    (path / PROVENANCE_FILE).unlink()
    (path / LICENSE_FILE).write_text(OFFICIAL_TEXT)
    assert json.loads((path / "config.json").read_text())["model_type"] == "llama4_text"
    return path


def provenance(path):
    return json.loads((path / PROVENANCE_FILE).read_text())


def test_a_model_trained_from_scratch_carries_no_notice_and_says_so(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LlamaNamingWarning)
        save_pretrained(build_model(preset("debug"), seed=0), tmp_path / "mine")
        save_pretrained(load_pretrained(tmp_path / "mine"), tmp_path / "again")
    for path in (tmp_path / "mine", tmp_path / "again"):
        assert provenance(path) == {"origin": "trained from scratch by sonar", "derived_from_llama4": False}
        assert not (path / NOTICE_FILE).exists() and not (path / SUMMARY_FILE).exists()


def test_saving_a_converted_llama4_checkpoint_writes_the_notice_and_warns_on_the_name(converted, tmp_path):
    model = load_pretrained(converted)
    assert model.sonar_provenance["derived_from_llama4"] is True
    with pytest.warns(LlamaNamingWarning, match="begin with 'Llama'"):
        save_pretrained(model, tmp_path / "my-finetune")
    out = tmp_path / "my-finetune"
    notice = (out / NOTICE_FILE).read_text()
    assert notice.startswith("Built with Llama")
    assert "Llama 4 is licensed under the Llama 4 Community License" in notice
    summary = (out / SUMMARY_FILE).read_text()
    for term in ("Built with Llama", "begins with \"Llama\"", "700 million", "official license text",
                 "https://www.llama.com/llama4/license/"):
        assert term in summary
    assert (out / LICENSE_FILE).read_text() == OFFICIAL_TEXT  # Meta's text travels with the weights
    assert provenance(out)["derived_from_llama4"] is True
    assert NOTICE_FILE in json.loads((out / MARKER).read_text())["files"]


def test_a_name_beginning_with_llama_is_not_warned_about_and_the_notice_survives_a_reload(converted, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LlamaNamingWarning)
        save_pretrained(load_pretrained(converted), tmp_path / "Llama-4-mine")
        save_pretrained(load_pretrained(tmp_path / "Llama-4-mine"), tmp_path / "Llama-4-mine-again")
    assert (tmp_path / "Llama-4-mine-again" / NOTICE_FILE).is_file()


def test_export_adds_a_missing_notice_and_warns_on_the_export_name(converted, tmp_path):
    model_dir = tmp_path / "export" / "model"
    shutil.copytree(converted, model_dir)
    with pytest.warns(LlamaNamingWarning, match="'export'"):
        carry_license(model_dir, "export")
    assert (model_dir / NOTICE_FILE).is_file() and (model_dir / SUMMARY_FILE).is_file()


def test_export_of_sonars_own_weights_adds_nothing(tmp_path):
    save_pretrained(build_model(preset("debug"), seed=0), tmp_path / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LlamaNamingWarning)
        carry_license(tmp_path / "model", "winner")
    assert not (tmp_path / "model" / NOTICE_FILE).exists()
