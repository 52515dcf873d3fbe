"""Long-context ablation at tiny scale (benchmarks/long-context/): what iRoPE buys over all-RoPE and all-NoPE.

Every variant is the `tiny` preset trained at T=128 on the built-in corpus for the same steps and tokens,
then evaluated to 16x its training length with `sonar eval length`. Two of them then get a mid-training
stage at 4x the length for 10% more tokens, against a control that spends the same extra tokens at 1x.
Resumable: a trained variant (its model/ folder) and an evaluated one (its length.json) are skipped.
Run it under `nice -n 10`; it writes benchmarks/long-context/ablation.json and ablation.png:

    nice -n 10 .venv/bin/python scripts/long_context_ablation.py --out runs/long-context --steps 240
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sonar.checkpoint import save_pretrained
from sonar.data.dataset import DataConfig, prepare
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.strict_json import dumps_strict
from sonar.train.config import TrainConfig
from sonar.train.stages import Stage
from sonar.train.trainer import CorpusTrainer

SEQ_LEN = 128
# Temperature tuning in Llama 4 starts at its chunk size (floor_scale = chunk = 8192); scaled down alike.
BASE = preset("tiny").replace(attention_chunk_size=64, floor_scale=64, attn_scale=0.1)
VARIANTS = {
    "irope_c64": BASE,
    "irope_c32": BASE.replace(attention_chunk_size=32),
    "irope_c64_no_temp": BASE.replace(attn_temperature_tuning=False),
    "all_rope": BASE.replace(attention_chunk_size=None, nope_layers=()),
    "all_nope": BASE.replace(attention_chunk_size=None, nope_layers=(0, 1, 2, 3)),
}
MID_TRAINED = ("irope_c64", "all_rope")  # given a short stage at 4x the training length
EXTRA = 0.1  # the stage's share of the first stage's tokens
MULTIPLES = (1, 2, 4, 8, 16)


def train_config(steps: int, threads: int) -> TrainConfig:
    return TrainConfig(batch_size=8, seq_len=SEQ_LEN, lr=3e-3, warmup_steps=max(1, steps // 10),
                       schedule_steps=steps, eval_every=max(1, steps // 4), threads=threads, data=DataConfig())


def train_variant(out: Path, name: str, steps: int, threads: int, *, base: str | None = None,
                  stage_len: int | None = None) -> None:
    """Train VARIANTS[name]; or, with `base`, continue that trained variant with one more stage of
    EXTRA * its tokens at `stage_len` tokens per row (same tokens per step, own warmup and schedule)."""
    run = out / name
    if (run / "model" / "config.json").is_file():
        return
    config = train_config(steps, threads)
    until = steps
    if base is not None:
        extra_steps = max(1, round(EXTRA * steps))
        until = steps + extra_steps
        config = config.replace(stages=(Stage(
            start_step=steps, seq_len=stage_len, batch_size=config.tokens_per_step // stage_len,
            warmup_steps=max(1, extra_steps // 10), schedule_steps=extra_steps),))
        if not (run / "state").is_dir():
            shutil.copytree(out / base / "state", run / "state")
    data = prepare(config.data)
    trainer = CorpusTrainer(config, data=data)
    candidate = Candidate(id=name, model=trainer.fit_vocab(VARIANTS[base or name]), workdir=run / "state", seed=0)
    start = time.perf_counter()
    curve = trainer.run(candidate, until)
    save_pretrained(trainer.load_model(candidate), run / "model", overwrite=True)
    shutil.copyfile(data.path / "tokenizer.json", run / "model" / "tokenizer.json")
    (run / "train_config.json").write_text(json.dumps(config.to_dict(), indent=1))
    print(f"{name}: val {curve[-1].val_loss:.3f} after {until} steps, {time.perf_counter() - start:.0f} s",
          flush=True)


def evaluate(out: Path, name: str, threads: int) -> dict:
    report = out / name / "length" / "length.json"
    if not report.is_file():
        command = [sys.executable, "-m", "sonar", "eval", "length", str(out / name), "--threads", str(threads),
                   "--multiples", ",".join(map(str, MULTIPLES))]
        subprocess.run(command, check=True)
    return json.loads(report.read_text())


def as_trained(name: str) -> str:
    """The evaluation setting that matches how a variant was trained."""
    return "temp off, full" if name.endswith("no_temp") else "temp on, full"


def row(out: Path, name: str, results: dict) -> dict:
    settings = {s["name"]: s for s in results["settings"]}
    own = settings[as_trained(name)]
    other = settings["temp off, full" if as_trained(name) == "temp on, full" else "temp on, full"]
    lengths = own["lengths"]
    in_length = lengths["1"]["mean_loss"]
    last_bucket = {m: v["bucket_loss"][-1] for m, v in lengths.items()}
    cached = [s for s in results["settings"] if s["path"] == "cached"]
    passkey = results["passkey"][as_trained(name)]
    cost = json.loads((out / name / "state" / "run.json").read_text())["cost"]
    return {
        "variant": name, "setting": own["name"], "train_tokens": cost["tokens"], "train_seconds": cost["seconds"],
        "mean_loss": {m: v["mean_loss"] for m, v in lengths.items()},
        "ratio_to_1x": own["ratio_to_in_length"],
        "last_bucket_loss": last_bucket,
        "last_bucket_ratio_to_1x": {m: v / in_length for m, v in last_bucket.items()},
        "other_temperature_setting": {"name": other["name"],
                                      "mean_loss": {m: v["mean_loss"] for m, v in other["lengths"].items()}},
        "passkey_accuracy": {m: sum(d.values()) / len(d) for m, d in passkey.items()},
        "cached_max_abs_diff_vs_full": max(s["max_abs_diff_vs_full"] for s in cached),
        "bucket_loss_16x": lengths[str(max(MULTIPLES))]["bucket_loss"],
    }


def write_summary(out: Path, names: list[str], command: str, steps: int, bench: Path) -> None:
    rows = [row(out, name, evaluate(out, name, 1)) for name in names]
    by_name = {r["variant"]: r for r in rows}
    top = str(max(MULTIPLES))
    mid = {base: mid_training(by_name, base, top) for base in MID_TRAINED
           if f"{base}_mid4x" in by_name and f"{base}_more1x" in by_name}
    bench.mkdir(parents=True, exist_ok=True)
    variants = [r for r in rows if r["variant"] in VARIANTS]
    payload = {"command": command, "train_len": SEQ_LEN, "steps": steps, "extra_share": EXTRA,
               "train_seconds_variants": sum(r["train_seconds"] for r in variants),
               "variants": {name: config.to_dict() for name, config in VARIANTS.items()},
               "rows": rows, "mid_training": mid}
    (bench / "ablation.json").write_text(dumps_strict(payload, indent=1))
    plot(bench / "ablation.png", rows)


def mid_training(by_name: dict, base: str, top: str) -> dict:
    """The 4x stage against the base and against the 1x control that spent the same extra tokens."""
    stage, control, before = by_name[f"{base}_mid4x"], by_name[f"{base}_more1x"], by_name[base]
    out = {"extra_tokens": stage["train_tokens"] - before["train_tokens"],
           "extra_seconds_4x": stage["train_seconds"] - before["train_seconds"],
           "extra_seconds_1x": control["train_seconds"] - before["train_seconds"]}
    for m in ("1", "8", top):
        out[f"loss_{m}x"] = {"base": before["mean_loss"][m], "control_1x": control["mean_loss"][m],
                             "stage_4x": stage["mean_loss"][m]}
        out[f"ratio_{m}x_stage_over_control"] = stage["mean_loss"][m] / control["mean_loss"][m]
        out[f"ratio_{m}x_stage_over_base"] = stage["mean_loss"][m] / before["mean_loss"][m]
    return out


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for r in rows:
        buckets = r["bucket_loss_16x"]
        style = "--" if ("_mid" in r["variant"] or "_more" in r["variant"]) else "-"
        ax.plot([(i + 0.5) * SEQ_LEN for i in range(len(buckets))], buckets, style, marker="o", ms=3,
                label=f"{r['variant']} ({r['setting'].split(',')[0]})")
    ax.axvline(SEQ_LEN, color="grey", ls=":", lw=1, label="training length")
    ax.set(xlabel="position (bucket centre, tokens)", ylabel="held-out loss (nats/token)",
           title=f"tiny, trained at T={SEQ_LEN}: loss by position to {max(MULTIPLES)}x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/long-context")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants")
    parser.add_argument("--bench-out", default="benchmarks/long-context", help="where ablation.json/png go")
    parser.add_argument("--train-only", action="store_true", help="train, then stop before evaluating")
    args = parser.parse_args()
    out = Path(args.out)
    names = args.only.split(",")
    for name in names:
        train_variant(out, name, args.steps, args.threads)
    for base in (b for b in MID_TRAINED if b in names):
        train_variant(out, f"{base}_mid4x", args.steps, args.threads, base=base, stage_len=4 * SEQ_LEN)
        train_variant(out, f"{base}_more1x", args.steps, args.threads, base=base, stage_len=SEQ_LEN)
        names += [f"{base}_mid4x", f"{base}_more1x"]
    if args.train_only:
        return
    for name in names:
        evaluate(out, name, args.threads)
    command = "nice -n 10 .venv/bin/python scripts/long_context_ablation.py " + " ".join(sys.argv[1:])
    write_summary(out, names, command, args.steps, Path(args.bench_out))


if __name__ == "__main__":
    sys.exit(main())
