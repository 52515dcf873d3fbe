"""The length-generalization measurement: loss by position bucket at multiples of the training length,
per setting (temperature tuning on/off x full forward/KV-cached decode), and passkey retrieval by depth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonar.errors import UserError
from sonar.longctx.held_out import held_out_windows
from sonar.longctx.passkey import passkey_window, retrieval_score
from sonar.longctx.position_loss import bucket_means, cached_losses, full_losses, temperature_tuning

MAX_WINDOWS = 10_000  # windows or trials per length: each is a forward pass


@dataclass(kw_only=True, frozen=True)
class LengthEval:
    train_len: int
    multiples: tuple[int, ...] = (1, 2, 4, 8, 16)
    windows: int = 4  # held-out windows per length
    temperature: tuple[bool | None, ...] = (True, False)  # None: as the model was built
    cached_windows: int = 1  # windows at the longest length also run through the KV cache
    cache_block: int = 1  # tokens per cached call: 1 is token-by-token decode
    depths: tuple[float, ...] = (0.0, 0.5, 1.0)
    key_len: int = 4
    passkey_trials: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("train_len", "windows", "cache_block", "key_len", "passkey_trials"):
            if getattr(self, name) < 1:
                raise UserError(f"{name}={getattr(self, name)}: must be >= 1")
        if not self.multiples or any(m < 1 for m in self.multiples):
            raise UserError(f"multiples={list(self.multiples)}: give positive integers, e.g. 1,2,4,8,16")
        if not self.depths or any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise UserError(f"depths={list(self.depths)}: give passkey depths in [0, 1]")
        for name in ("multiples", "depths"):  # a repeat would be measured twice and reported as two results
            values = getattr(self, name)
            if len(set(values)) < len(values):
                raise UserError(f"{name}={list(values)}: a value is repeated; give each once")
        if self.cached_windows < 0:
            raise UserError(f"cached_windows={self.cached_windows}: must be >= 0")
        if self.cached_windows > self.windows:  # they are taken from the longest length's windows
            raise UserError(f"cached_windows={self.cached_windows}: must be at most windows={self.windows} "
                            "(the cached windows are some of the longest length's windows)")
        shortest, need = min(self.multiples) * self.train_len, 2 * (self.key_len + 1) + 1
        if shortest < need:  # else found by the passkey test, once every loss had been measured, naming no setting
            raise UserError(f"train_len={self.train_len} x multiple {min(self.multiples)}: a passkey window of "
                            f"{shortest} tokens cannot hold a key of {self.key_len} tokens twice (it needs {need}): "
                            "give a longer --train-len or larger --multiples")
        for name in ("windows", "cached_windows", "passkey_trials"):  # each is a model pass; 1e9 is a typo
            if getattr(self, name) > MAX_WINDOWS:
                raise UserError(f"{name}={getattr(self, name)}: must be at most {MAX_WINDOWS:,}")


def setting_name(temperature: bool | None, path: str) -> str:
    temp = {True: "temp on", False: "temp off", None: "as built"}[temperature]
    return f"{temp}, {path}"


def evaluate_length(model, documents: list[np.ndarray], *, eot_id: int, vocab_size: int, spec: LengthEval) -> dict:
    """Everything `sonar eval length` reports, as plain data."""
    T = spec.train_len
    windows = {m: held_out_windows(documents, length=m * T, n_windows=spec.windows, eot_id=eot_id)
               for m in sorted(set(spec.multiples))}
    longest = max(windows)
    settings = []
    for temperature in spec.temperature:
        with temperature_tuning(model, temperature):
            by_length = {}
            for m, w in windows.items():
                losses = full_losses(model, w.rows_NL1)
                by_length[str(m)] = {"windows": int(w.rows_NL1.shape[0]), "mean_loss": float(losses.mean()),
                                     "bucket_loss": bucket_means(losses, T)}
            settings.append({"name": setting_name(temperature, "full"), "temperature_tuning": temperature,
                             "path": "full", "lengths": by_length})
            if spec.cached_windows:
                rows = windows[longest].rows_NL1[: spec.cached_windows]
                cached = cached_losses(model, rows, block=spec.cache_block)
                full = full_losses(model, rows)
                settings.append({
                    "name": setting_name(temperature, "cached"), "temperature_tuning": temperature, "path": "cached",
                    "cache_block": spec.cache_block,
                    "lengths": {str(longest): {"windows": int(rows.shape[0]), "mean_loss": float(cached.mean()),
                                               "bucket_loss": bucket_means(cached, T)}},
                    "max_abs_diff_vs_full": float((cached - full).abs().max()),
                })
    for s in settings:
        s["ratio_to_in_length"] = _ratios(s["lengths"], settings, s["temperature_tuning"])
    concatenated = [m for m, w in windows.items() if w.concatenated]
    return {
        "train_len": T, "multiples": sorted(windows), "bucket_width": T, "settings": settings,
        "concatenated_lengths": concatenated,
        "note": (f"no held-out document is long enough for {[m * T for m in concatenated]} tokens: documents were "
                 "joined with END_OF_TEXT between them" if concatenated else "every window lies inside one document"),
        "passkey": passkey_scores(model, documents, eot_id=eot_id, vocab_size=vocab_size, spec=spec),
    }


def _ratios(lengths: dict, settings: list[dict], temperature) -> dict:
    """Mean loss at each length over the in-length (1x) loss of the full forward under the same setting."""
    base = next((s["lengths"].get("1") for s in settings
                 if s["path"] == "full" and s["temperature_tuning"] == temperature), None)
    if base is None:
        return {}
    return {m: v["mean_loss"] / base["mean_loss"] for m, v in lengths.items()}


def passkey_scores(model, documents, *, eot_id: int, vocab_size: int, spec: LengthEval) -> dict:
    """Retrieval accuracy per length and depth, under each temperature setting (filler: held-out text)."""
    out = {}
    for temperature in spec.temperature:
        per_length = {}
        with temperature_tuning(model, temperature):
            for m in sorted(set(spec.multiples)):
                fillers = held_out_windows(documents, length=m * spec.train_len, n_windows=spec.passkey_trials,
                                           eot_id=eot_id).rows_NL1.numpy()
                rng = np.random.default_rng([spec.seed, m])
                per_length[str(m)] = {
                    str(depth): float(np.mean([retrieval_score(model, passkey_window(
                        filler[:-1], depth=depth, key_len=spec.key_len, vocab_size=vocab_size, rng=rng,
                        exclude=(eot_id,)), spec.key_len) for filler in fillers]))
                    for depth in spec.depths
                }
        out[setting_name(temperature, "full")] = per_length
    return out
