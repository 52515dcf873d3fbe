"""Cutting a long command off: Ctrl-C and SIGTERM end it with one line and exit 128 + the signal, its temp
files gone; a second writer on the same directory is refused; a `sonar train` killed before its first
checkpoint resumes as the run it was started as."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sonar.errors import UserError
from sonar.outdir import exclusive
from word_corpus import write_word_corpus

SRC = str(Path(__file__).parents[2] / "src")


@pytest.fixture
def corpus(tmp_path):
    return write_word_corpus(tmp_path / "corpus")


def _train(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": SRC, "SONAR_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, "-m", "sonar", "train", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc, timeout=60):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_one_line_and_leaves_no_temp_files(tmp_path, corpus, sig):
    proc = _train(tmp_path, "--preset", "debug", "--corpus", "corpus", "--vocab", "300", "--steps", "100000",
                  "--out", "run")
    _wait_for(tmp_path / "run" / "state" / "run.json", proc)
    time.sleep(0.3)  # inside the training loop
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert not [p.name for p in (tmp_path / "run").rglob(".*")]  # no staging copy, no temp file
    assert not [p.name for p in tmp_path.glob(".*")]


# A command on sonar's own root group; SCRIPT's body is the command.
_COMMAND_SCRIPT = """
import atexit, os, signal, sys
from sonar.cli.app import app

@app.command()
def probe() -> None:
{body}

app(prog_name="sonar", args=["probe"])
"""


def _probe(body: str, tmp_path) -> subprocess.CompletedProcess:
    script = _COMMAND_SCRIPT.format(body="\n".join("    " + line for line in body.strip().splitlines()))
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)


def test_ctrl_c_passes_code_that_swallows_keyboard_interrupt(tmp_path):
    """A library that catches KeyboardInterrupt (to print its own message, or to go on) cannot keep sonar's
    Ctrl-C from ending the command."""
    done = _probe("""
try:
    os.kill(os.getpid(), signal.SIGINT)
    signal.sigtimedwait([], 0.1)  # any bytecode boundary delivers it
    sys.stdout.write("ran on\\n")
except KeyboardInterrupt:
    sys.stdout.write("swallowed\\n")
sys.stdout.write("went on\\n")
""", tmp_path)
    assert done.returncode == 130, done.stderr
    assert done.stdout == "" and done.stderr.startswith("error: interrupted (Ctrl-C)"), (done.stdout, done.stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_while_exiting_keeps_the_first_ones_code(tmp_path, sig):
    """Another signal while the interpreter shuts down (an atexit hook here) ends it at once with the first
    signal's code and no further output: not a traceback, not a kill by the default handler."""
    done = _probe(f"""
atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), signal.sigtimedwait([], 0.1), print("atexit went on")))
os.kill(os.getpid(), {int(sig)})
signal.sigtimedwait([], 0.1)
""", tmp_path)
    assert done.returncode == 128 + sig, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "atexit went on" not in done.stdout


def test_a_second_train_on_the_same_out_is_refused(tmp_path, corpus):
    first = _train(tmp_path, "--preset", "debug", "--corpus", "corpus", "--vocab", "300", "--steps", "100000",
                   "--out", "run")
    try:
        _wait_for(tmp_path / "run" / "train_config.json", first)
        second = _train(tmp_path, "--preset", "debug", "--corpus", "corpus", "--vocab", "300", "--steps", "4",
                        "--out", "run")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert "another sonar process is writing" in err and "Traceback" not in err
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)


def test_a_run_killed_before_its_first_checkpoint_resumes_with_its_own_preset_and_seed(tmp_path, corpus):
    proc = _train(tmp_path, "--preset", "debug", "--seed", "3", "--corpus", "corpus", "--vocab", "300",
                  "--steps", "100000", "--out", "run")
    _wait_for(tmp_path / "run" / "state" / "run.json", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not (tmp_path / "run" / "state" / "train_state.pt").exists()
    resumed = _train(tmp_path, "--out", "run", "--resume", "--steps", "2")  # no --preset, no --seed
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    record = json.loads((tmp_path / "run" / "state" / "run.json").read_text())
    assert (record["candidate"], record["seed"]) == ("debug", 3)  # not the default preset, not seed 0


def test_exclusive_refuses_a_second_holder_and_leaves_no_directory_it_made(tmp_path):
    target = tmp_path / "out"
    with exclusive(target, "thing"):
        assert target.is_dir()
        with pytest.raises(UserError, match="another sonar process is writing this thing"):
            with exclusive(target, "thing"):
                pass
        assert target.is_dir()  # the refused caller removes nothing
    assert not target.exists()  # made here and left empty: gone
    with exclusive(target, "thing"):  # free again
        (target / "f").write_text("x")
    assert (target / "f").read_text() == "x"
