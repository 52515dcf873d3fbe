"""Fixtures of the bad-input suites (tests/cli/test_bad_inputs*.py): valid artefacts built once, and a
sandbox per case."""

import os
import stat

import pytest
from bad_input_sandbox import Sandbox, build_artefacts


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory):
    return build_artefacts(tmp_path_factory.mktemp("valid"))


@pytest.fixture
def sandbox(tmp_path, artefacts, monkeypatch):
    (tmp_path / "sandbox").mkdir()
    sb = Sandbox(tmp_path / "sandbox", artefacts)
    for key, value in sb.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(sb.root)
    yield sb
    for dirpath, _, _ in os.walk(sb.root):  # let pytest clean up the read-only cases
        os.chmod(dirpath, stat.S_IRWXU)
