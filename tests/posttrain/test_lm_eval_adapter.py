"""The lm-eval adapter on tasks defined here, from local files (nothing is downloaded)."""

import json

import pytest
import torch

lm_eval = pytest.importorskip("lm_eval")

from sonar.checkpoint import save_pretrained  # noqa: E402
from sonar.posttrain.chat import BEGIN_OF_TEXT  # noqa: E402
from sonar.posttrain.lm_eval_adapter import SonarLM  # noqa: E402
from sonar.posttrain.model_source import load_start  # noqa: E402

_TASKS = """
task: sonar_local_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{prompt}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
---
task: sonar_local_generate
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 4
metric_list:
  - metric: exact_match
"""


@pytest.fixture
def checkpoint(tmp_path):
    save_pretrained(load_start(None, preset_name="debug", seed=0), tmp_path / "model")
    return tmp_path / "model"


def test_loglikelihood_is_the_models_own(checkpoint):
    lm = SonarLM(str(checkpoint))

    class Request:
        args = ("2+2=", "4")

    (logp, greedy), = lm.loglikelihood([Request()])
    with torch.no_grad():
        logits_V = lm.model(torch.tensor([[BEGIN_OF_TEXT, *b"2+2="]])).logits[0, -1].float()
    assert logp == pytest.approx(float(torch.log_softmax(logits_V, -1)[ord("4")]), abs=1e-5)
    assert greedy == (int(logits_V.argmax()) == ord("4"))


def test_a_local_task_runs_through_the_harness(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "docs.jsonl"
    rows = [{"prompt": f"{a}+{b}=", "answer": str(a + b), "choices": [str(a + b), str(a + b + 1)], "label": 0}
            for a, b in [(1, 2), (3, 4), (2, 2), (5, 1)]]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task_dir = tmp_path / "tasks"
    task_dir.mkdir()
    for i, text in enumerate(_TASKS.format(data=data).split("---")):
        (task_dir / f"task{i}.yaml").write_text(text)
    from lm_eval.tasks import TaskManager

    lm = SonarLM(str(checkpoint))
    results = lm_eval.simple_evaluate(model=lm, tasks=["sonar_local_choice", "sonar_local_generate"],
                                      task_manager=TaskManager(include_path=str(task_dir)))
    assert results["n-samples"]["sonar_local_choice"]["effective"] == len(rows)

    class Request:
        def __init__(self, *args):
            self.args = args

    # The harness's scores are the adapter's own answers, counted.
    logps = [[lm.loglikelihood([Request(r["prompt"], " " + c)])[0][0] for c in r["choices"]] for r in rows]
    expected_acc = sum(lp[0] > lp[1] for lp in logps) / len(rows)
    assert results["results"]["sonar_local_choice"]["acc,none"] == pytest.approx(expected_acc)
    replies = lm.generate_until([Request(r["prompt"], {"until": ["\n"], "max_gen_toks": 4}) for r in rows])
    expected_em = sum(reply.strip() == r["answer"] for reply, r in zip(replies, rows, strict=True)) / len(rows)
    assert results["results"]["sonar_local_generate"]["exact_match,none"] == pytest.approx(expected_em)
