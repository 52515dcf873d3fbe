"""Our Llama 4 vs transformers on identical weights: prefill and decode tokens/s, and token agreement.

    python -m sonar.bench.model_speed [--preset small | --checkpoint DIR] [--json]

Prefill: B=1, T=512, one forward. Decode: B=1, a 256-token prompt, then 128 greedy tokens with the
KV cache; decode tokens/s = 128 / (generate time - prefill time of the prompt), for both sides.
transformers runs with its default (SDPA) attention; both sides in fp32 on the same threads.
`decode_ratio` is our model as `build_model` makes it (its wide linears stored input-major,
sonar.model.weight_storage), without the tuner; `decode_ratio_canonical_layout` is the same weights
stored row-major as transformers stores them, and prefill reports that layout too.
Tuned: decode with a SystemConfig applied from outside (--tuned-config, JSON), at its own thread count,
through `sonar.systems.apply.prepare`: a compiled config decodes with its compiled step (the prompt's
prefill stays eager on both sides); `decode_ratio_tuned`, its relative logits error against our fp32
model over the prompt (`tuned_logits_error`, the tuner's quality measure; its limit is 1%) and, since a
quantized config may pick other tokens, `tuned_tokens_match` and `tuned_tokens_agreeing` (how many of
the new tokens it generates before its first disagreement with transformers). Prefill also reports its achieved FLOP/s
against the fp32 matmul peak measured in the same run (sonar.train.flops), at the same thread count.
The weights are the preset's seeded random init, or with --checkpoint a trained model (such as the one
`sonar bench tune` trains, runs/bench-tune/small-trained-100/checkpoint): a quantized tuned config is
judged by the 1% limit only on weights that carry signal (sonar.systems.bench_weights).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile

import torch

from sonar.bench.timing import interleaved_medians
from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.errors import UserError
from sonar.model import build_model, generate, preset
from sonar.model.params import count_parameters
from sonar.systems.apply import prepare
from sonar.systems.config import SystemConfig
from sonar.systems.quality import logits_error
from sonar.train.flops import cpu_matmul_peak_now, forward_flops_per_token

# `sonar bench tune`'s pick for small (decode:ctx=256, 1% limit judged over the decode window): fp32,
# compiled, the gather dispatch. int8 experts decode faster but miss the limit on random weights
# (docs/decode-profile.md); pass them with --tuned-config to see how much.
TUNED_SMALL = {"moe_dispatch": "packed_gather", "compile": "default"}


def _transformers_twin(model):
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        return transformers.Llama4ForCausalLM.from_pretrained(tmp).eval()


def _agreeing_prefix(ours_T: torch.Tensor, theirs_T: torch.Tensor) -> int:
    """How many leading tokens two greedy continuations share."""
    differ = (ours_T != theirs_T).nonzero()
    return int(differ[0, 0]) if len(differ) else len(ours_T)


def _at_threads(threads: int | None, fn):
    """fn run at `threads` intra-op threads (None: as found), the count restored after."""
    def call():
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)
    return call


def _our_model(preset_name: str, checkpoint: str | None, **storage):
    if checkpoint is not None:
        return load_pretrained(checkpoint, **storage).eval()
    return build_model(preset(preset_name), seed=0, **storage).eval()


def run(preset_name: str = "small", prefill_len: int = 512, prompt_len: int = 256, new_tokens: int = 128,
        repeats: int = 3, tuned: SystemConfig | None = None, checkpoint: str | None = None) -> dict:
    tuned = tuned or SystemConfig(**TUNED_SMALL)
    ours = _our_model(preset_name, checkpoint)
    config = ours.config
    theirs = _transformers_twin(ours)
    ours_canonical = _our_model(preset_name, checkpoint, linear_storage="canonical")
    prepared = prepare(ours, tuned)
    ours_tuned = prepared.model

    def tuned_step(model, token_B1, position_1, cache):  # generate's step signature over the prepared step
        return prepared.decode(token_B1, position_1, cache)
    ours_dense = _our_model(preset_name, checkpoint)
    for block in ours_dense.layers:
        if block.plan.is_moe:
            block.ffn.dispatch_name = "dense"
    g = torch.Generator().manual_seed(0)
    prefill_ids = torch.randint(0, config.vocab_size, (1, prefill_len), generator=g)
    prompt = torch.randint(0, config.vocab_size, (1, prompt_len), generator=g)

    peak_before = cpu_matmul_peak_now()
    with torch.inference_mode():
        prefill = interleaved_medians({
            "ours": lambda: ours(prefill_ids),
            "ours_canonical": lambda: ours_canonical(prefill_ids),
            "ours_dense_dispatch": lambda: ours_dense(prefill_ids),
            "theirs": lambda: theirs(prefill_ids, use_cache=False),
        }, repeats=repeats)
        prompt_prefill = interleaved_medians({
            "ours": lambda: ours(prompt),
            "ours_canonical": lambda: ours_canonical(prompt),
            "theirs": lambda: theirs(prompt, use_cache=False),
        }, repeats=repeats)
        outputs = {}

        def ours_generate():
            outputs["ours"] = generate(ours, prompt, max_new_tokens=new_tokens)

        def ours_canonical_generate():
            outputs["ours_canonical"] = generate(ours_canonical, prompt, max_new_tokens=new_tokens)

        def ours_tuned_generate():
            outputs["ours_tuned"] = generate(ours_tuned, prompt, max_new_tokens=new_tokens, step=tuned_step)

        def theirs_generate():
            outputs["theirs"] = theirs.generate(
                prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False
            )

        whole = interleaved_medians(
            {"ours": ours_generate, "ours_canonical": ours_canonical_generate, "theirs": theirs_generate,
             "ours_tuned": _at_threads(tuned.threads, ours_tuned_generate)}, repeats=repeats
        )
        # The tuned side's own prompt prefill, at its thread count, so its decode time excludes it.
        prompt_prefill.update(interleaved_medians(
            {"ours_tuned": _at_threads(tuned.threads, lambda: ours_tuned(prompt))}, repeats=repeats))
        tuned_error = logits_error(ours_tuned(prompt).logits, ours(prompt).logits)

    prefill_tps = {k: prefill_len / v for k, v in prefill.items()}  # ours uses the default (grouped) dispatch
    decode_tps = {k: new_tokens / max(whole[k] - prompt_prefill[k], 1e-9) for k in whole}
    prefill_flops = forward_flops_per_token(config, prefill_len) * prefill_len
    # Measured in this run, not read from the cache: a peak cached on a busier day (it once held a
    # quarter of today's) made prefill read as 257% of it. Before and after the timings, the higher kept:
    # measured once while another job held a core, it made prefill read as 122% of it.
    peak = max(peak_before, cpu_matmul_peak_now())
    return {
        "preset": preset_name if checkpoint is None else None,
        "checkpoint": checkpoint,
        "params_active": count_parameters(config).active,
        "prefill_tokens_per_s": prefill_tps,
        "decode_tokens_per_s": decode_tps,
        "prefill_ratio": prefill_tps["ours"] / prefill_tps["theirs"],
        "decode_ratio": decode_tps["ours"] / decode_tps["theirs"],
        "decode_ratio_canonical_layout": decode_tps["ours_canonical"] / decode_tps["theirs"],
        "decode_ratio_tuned": decode_tps["ours_tuned"] / decode_tps["theirs"],
        "tuned_config": tuned.label(),
        "tuned_logits_error": tuned_error,
        "tuned_tokens_match": bool(torch.equal(outputs["ours_tuned"], outputs["theirs"])),
        "tuned_tokens_agreeing": _agreeing_prefix(outputs["ours_tuned"][0, prompt_len:],
                                                  outputs["theirs"][0, prompt_len:]),
        "prefill_flops_per_s": prefill_flops / prefill["ours"],
        "matmul_peak_flops_per_s": peak,
        "prefill_fraction_of_matmul_peak": prefill_flops / prefill["ours"] / peak,
        "tokens_match": all(torch.equal(outputs[k], outputs["theirs"]) for k in ("ours", "ours_canonical")),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", help="a preset's seeded random init (default: small)")
    parser.add_argument("--checkpoint", help="a trained model's directory instead of --preset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tuned-config", default=json.dumps(TUNED_SMALL),
                        help="the tuned SystemConfig as JSON (default: bench tune's pick for small)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: must be >= 1")
    try:
        tuned = SystemConfig.from_json(args.tuned_config, "--tuned-config")
        preset(args.preset)  # an unknown name is refused here, before transformers is loaded
        if args.checkpoint is not None:
            load_pretrained(args.checkpoint)  # so is an unreadable checkpoint
    except UserError as err:
        parser.error(str(err))
    result = run(args.preset, repeats=args.repeats, tuned=tuned, checkpoint=args.checkpoint)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['preset'] or result['checkpoint']}: prefill {result['prefill_tokens_per_s']['ours']:.0f} vs "
          f"{result['prefill_tokens_per_s']['theirs']:.0f} tokens/s (x{result['prefill_ratio']:.2f}); decode "
          f"{result['decode_tokens_per_s']['ours']:.1f} vs {result['decode_tokens_per_s']['theirs']:.1f} tokens/s "
          f"(x{result['decode_ratio']:.2f}, row-major x{result['decode_ratio_canonical_layout']:.2f}; "
          f"tuned {result['tuned_config']} x{result['decode_ratio_tuned']:.2f}); "
          f"prefill at {100 * result['prefill_fraction_of_matmul_peak']:.0f}% of the matmul peak; "
          f"greedy tokens match: {result['tokens_match']} (tuned: {result['tuned_tokens_match']}, "
          f"{result['tuned_tokens_agreeing']} new tokens before the first difference, "
          f"logits error {100 * result['tuned_logits_error']:.2f}%)")


if __name__ == "__main__":
    main()
