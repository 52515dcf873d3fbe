"""Training on the device: bf16 autocast over fp32 master weights, exact resume there bit for bit, and a
checkpoint restored across devices (CPU -> device -> CPU), which continues in value, not in bits.

With SONAR_CUDA_TESTS_ON_CPU=1 the same bodies run on the CPU with precision bf16 (CPU autocast), so
the mixed-precision path is what they check there too.
"""

import pytest
import torch
from cuda_device import DEVICE, ON_DEVICE, needs_gpu

from sonar.data import DataConfig, prepare
from sonar.interfaces import Candidate
from sonar.model import build_model, preset
from sonar.train import CorpusTrainer, TrainConfig
from sonar.train.bench import bench_preset
from sonar.train.device import resolve_device, to_device
from sonar.train.flops import device_peak
from sonar.train.optimizer import build_optimizer
from sonar.train.state import STATE_FILE, load_checkpoint
from sonar.train.step import train_step

pytestmark = ON_DEVICE

PRECISION = "bf16"  # the CUDA default, asked for explicitly so the CPU bodies run it too


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        (root / f"part{i}.txt").write_text(" ".join(f"word{(i * 7 + j * 3) % 41}" for j in range(600)))
    config = DataConfig(corpus=str(root), tokenizer="byte")
    return config, prepare(config, cache_dir=tmp_path_factory.mktemp("cache"))


def _config(corpus, device: str = DEVICE, **changes) -> TrainConfig:
    data_config, _ = corpus
    return TrainConfig(batch_size=4, seq_len=32, eval_every=3, eval_batches=1, warmup_steps=2, schedule_steps=12,
                       device=device, precision=PRECISION, data=data_config, **changes)


def _trainer(corpus, config: TrainConfig) -> CorpusTrainer:
    return CorpusTrainer(config, data=corpus[1], peak_flops=1e12)


def _candidate(trainer: CorpusTrainer, workdir) -> Candidate:
    return Candidate(id="c", model=trainer.fit_vocab(preset("debug")), workdir=workdir, seed=1)


def test_a_step_computes_in_bf16_and_keeps_fp32_master_weights():
    model = build_model(preset("debug"), seed=0).to(DEVICE)
    config = TrainConfig(precision=PRECISION, device=DEVICE)
    optimizer = build_optimizer(model, config)
    ids = torch.randint(0, 512, (2, 33), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    logits_dtypes = []
    model.lm_head.register_forward_hook(lambda module, args, out: logits_dtypes.append(out.dtype))
    loss, _ = train_step(model, optimizer, ids[:, :-1], ids[:, 1:], step=0, config=config)
    assert logits_dtypes == [torch.bfloat16]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(s["exp_avg"].dtype == torch.float32 for s in optimizer.state.values())
    assert 0 < loss < 10


def test_resume_on_the_device_is_bit_identical_to_one_run(tmp_path, corpus):
    config = _config(corpus)
    whole = _candidate(_trainer(corpus, config), tmp_path / "whole")
    parts = _candidate(_trainer(corpus, config), tmp_path / "parts")
    _trainer(corpus, config).run(whole, 8)
    _trainer(corpus, config).run(parts, 3)
    _trainer(corpus, config).run(parts, 8)  # a fresh trainer, as after a restart
    a, b = load_checkpoint(tmp_path / "whole" / STATE_FILE), load_checkpoint(tmp_path / "parts" / STATE_FILE)
    assert a["state"].losses == b["state"].losses and len(a["state"].losses) == 8
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    moments = zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True)
    assert all(torch.equal(x["exp_avg_sq"], y["exp_avg_sq"]) for x, y in moments)
    assert a["state"].expert_counts == b["state"].expert_counts


def test_a_checkpoint_restores_across_devices_in_value_not_in_bits(tmp_path, corpus):
    """CPU -> device -> CPU: each restore moves the weights and the optimizer's moments onto the run's
    device and training continues. Bitwise equality with a run that stayed on one device is not
    expected (other kernels, other summation order), only the same trajectory in value."""
    on_cpu, on_device = _config(corpus, "cpu"), _config(corpus)
    hopping = _candidate(_trainer(corpus, on_cpu), tmp_path / "hopping")
    staying = _candidate(_trainer(corpus, on_cpu), tmp_path / "staying")
    _trainer(corpus, on_cpu).run(staying, 9)
    _trainer(corpus, on_cpu).run(hopping, 3)
    device_trainer = _trainer(corpus, on_device)
    device_trainer.run(hopping, 6)
    model = device_trainer.load_model(hopping)
    assert {p.device.type for p in model.parameters()} == {torch.device(DEVICE).type}
    curve = _trainer(corpus, on_cpu).run(hopping, 9)
    assert [p.step for p in curve] == [3, 6, 9]
    a, b = load_checkpoint(tmp_path / "staying" / STATE_FILE), load_checkpoint(tmp_path / "hopping" / STATE_FILE)
    assert len(b["state"].losses) == 9 and all(torch.isfinite(torch.tensor(b["state"].losses)))
    assert a["state"].losses[:3] == b["state"].losses[:3]  # the CPU part is the CPU run's, bit for bit
    assert max(abs(x - y) for x, y in zip(a["state"].losses, b["state"].losses, strict=True)) < 0.1
    drift = max(float((a["model"][k] - b["model"][k]).abs().max()) for k in a["model"])
    assert drift < 0.05  # the same trajectory: 9 small AdamW steps from the same start
    assert {t.device.type for t in b["model"].values()} == {"cpu"}


def test_restoring_moves_the_optimizer_state_to_the_device(tmp_path, corpus):
    on_cpu = _config(corpus, "cpu")
    candidate = _candidate(_trainer(corpus, on_cpu), tmp_path / "run")
    _trainer(corpus, on_cpu).run(candidate, 2)
    _, optimizer, state = _trainer(corpus, _config(corpus))._restore(candidate)
    assert state.step == 2
    moments = [t for s in optimizer.state.values() for t in (s["exp_avg"], s["exp_avg_sq"])]
    assert moments and {t.device.type for t in moments} == {torch.device(DEVICE).type}
    # The device's own AdamW kernel, not the saving device's: fused (steps on the GPU) on CUDA.
    fused = DEVICE == "cuda"
    assert all(g["fused"] is (True if fused else None) and g["foreach"] is (None if fused else True)
               for g in optimizer.param_groups)
    assert {s["step"].device.type for s in optimizer.state.values()} == {DEVICE if fused else "cpu"}


def test_cuda_runs_use_fused_adamw_pinned_copies_and_tf32(corpus):
    needs_gpu("fused AdamW, pinned copies and TF32")
    model = build_model(preset("debug"), seed=0).to("cuda")
    assert build_optimizer(model, _config(corpus)).defaults["fused"] is True
    batch = to_device(torch.zeros(2, 3, dtype=torch.int64), resolve_device("cuda"))
    assert batch.device.type == "cuda"
    assert device_peak(torch.device("cuda"), torch.bfloat16, refresh=True) > 1e13


def test_an_absent_device_index_is_a_user_error():
    needs_gpu("a device index past the machine's")
    from sonar.errors import UserError

    with pytest.raises(UserError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_the_training_benchmark_runs_on_the_device():
    config = TrainConfig(batch_size=2, seq_len=64, device=DEVICE)
    result = bench_preset("debug", peak_flops=1e12, steps=2, warmup=1, config=config)
    assert result["device"].startswith(DEVICE) and result["tokens_per_s"] > 0 and result["mfu"] > 0
    assert result["compute_dtype"] == ("torch.bfloat16" if DEVICE == "cuda" else "torch.float32")
