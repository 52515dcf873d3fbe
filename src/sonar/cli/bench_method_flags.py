"""The methods, recommendation rules, scheduler rules and mode named on the command lines of `sonar bench suite`,
`ablate` and `replay`, checked in the flags' terms before any table is read."""

from __future__ import annotations

from sonar.cli.lists import name_list, refuse_unknown
from sonar.errors import UserError


def listed_names(text: str | None, flag: str) -> tuple[str, ...] | None:
    """A comma-separated list given with `flag` (None: not given); one naming nothing is refused in the terms of
    what the flag lists, not as "names no name"."""
    from sonar.bench.recommend import RULES
    from sonar.search.schedulers.policy import RULE_NAMES

    what, choices = {"--rules": ("recommendation rule", RULES), "--switch": ("scheduler rule", RULE_NAMES)}.get(
        flag, ("method", ()))
    return None if text is None else name_list(text, flag, what=what, choices=tuple(choices))


def check_mode_flag(mode: str | None) -> None:
    """--mode, before any table is read: the suite's settings and the objective refused it as `mode 'bogus'`, a
    keyword, not the flag."""
    from sonar.bench.regret import MODES

    if mode is not None and mode not in MODES:
        raise UserError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")


def check_rule_flag(rules: tuple[str, ...], flag: str, given: str) -> None:
    """The recommendation rules of --rules (or replay's --rule), before any table is read: the settings refused one
    as "recommendation rule 'nope'", naming no flag."""
    from sonar.bench.recommend import RULES

    refuse_unknown(rules, RULES, flag, given, what="recommendation rule")


def unavailable_methods(given: str, unknown: list[str], mode: str, choices: list[str]) -> UserError:
    """The refusal of --methods naming methods the mode has not: the settings put it as "methods ['nope'] are not
    available", without the flag or what was typed."""
    verb = "is" if len(unknown) == 1 else "are"
    return UserError(f"--methods {given!r}: {', '.join(unknown)} {verb} not available in {mode} mode; choose from"
                     f" {', '.join(choices)}")


def check_suite_methods(methods: tuple[str, ...] | None, given: str | None, mode: str) -> None:
    """Each method of the suite's --methods is one the mode replays, or a variant of SONAR (check_variants)."""
    from sonar.bench.suite import available_methods, is_variant

    names = sorted(available_methods(mode))
    unknown = [name for name in methods or () if not is_variant(name) and name not in names]
    if unknown:
        raise unavailable_methods(given, unknown, mode, [*names, "sonar-without-RULE", "sonar-with-RULE"])


# Rules that act in one objective mode only: each checks the mode before it acts (search/schedulers), so flipped in
# the other mode it changes nothing, and its variant replays SONAR itself under another name.
PARETO_ONLY_RULES = ("front_promotion", "front_extenders")
CONSTRAINT_ONLY_RULES = ("endgame_challengers", "feasible_stops_tuning", "tuning_pays", "catch_up_by_rung",
                         "tune_before_train", "latency_model", "screen_feasibility", "final_losses_first",
                         "fastest_first", "defer_far_probes", "learned_starts", "hopeful_feasibility",
                         "stop_swept_finalists", "pooled_forecast",
                         "sweep_finalists_first")
IDLE_RULES = {"constraint": PARETO_ONLY_RULES, "pareto": CONSTRAINT_ONLY_RULES}
_MODE_NAMES = {"constraint": "constraint", "pareto": "Pareto"}


def refuse_rules_idle_in(mode: str, rules: list[str], flag: str, value: str, *, replays: str, advice: str) -> None:
    """Refuse flipping `rules` (one variant, given as `flag value`) where `mode` is replayed, if any of them never
    acts there: alone, the variant is SONAR itself; in a group, it is the rest of the group."""
    idle = [rule for rule in rules if rule in IDLE_RULES[mode]]
    if not idle:
        return
    other = _MODE_NAMES["pareto" if mode == "constraint" else "constraint"]
    where = f"in {other} mode only, and {replays} {_MODE_NAMES[mode]} mode"
    if idle != rules:
        one = len(idle) == 1
        raise UserError(f"{flag} {value!r}: {', '.join(idle)} {'acts' if one else 'act'} {where}; leave"
                        f" {'it' if one else 'them'} out of the group")
    subject = "" if value == "+".join(rules) else f"{'+'.join(rules)} "  # not where the value is the rules alone
    raise UserError(f"{flag} {value!r}: {subject}acts {where}, where flipping it changes nothing; {advice}")


def check_variants(methods: tuple[str, ...] | None, mode: str) -> None:
    """Each `sonar-without-RULE` / `sonar-with-RULE` of --methods flips known rules that act in --mode (checked by
    the suite's settings already)."""
    from sonar.bench.suite import ABLATED, ADDED, is_variant
    from sonar.search.schedulers.policy import RULE_NAMES

    for name in methods or ():
        if not is_variant(name):
            continue
        rules = name.removeprefix(ADDED if name.startswith(ADDED) else ABLATED).split("+")
        unknown = [rule for rule in rules if rule not in RULE_NAMES]
        if unknown:  # else "rules ['nope']: unknown", naming neither the flag nor the method
            raise UserError(f"--methods {name!r}: unknown rule {', '.join(unknown)}; known: {', '.join(RULE_NAMES)}")
        _refuse_rules_as_they_are(name, rules, on=name.startswith(ADDED))
        refuse_rules_idle_in(mode, rules, "--methods", name, replays="the suite replays",
                             advice="leave it out, or replay it in the --mode it acts in")


def _refuse_rules_as_they_are(name: str, rules: list[str], *, on: bool) -> None:
    """A variant that sets a rule the way SONAR's policy already has it (sonar-with-forecast) flips nothing: it was
    replayed in full as a method of its own, and was SONAR itself."""
    from sonar.bench.suite import ABLATED, ADDED
    from sonar.search.schedulers.policy import SONAR_RULES

    same = [rule for rule in rules if getattr(SONAR_RULES, rule) == on]
    if not same:
        return
    state, one = "on" if on else "off", len(same) == 1
    if same != rules:
        raise UserError(f"--methods {name!r}: {', '.join(same)} {'is' if one else 'are'} {state} in SONAR's policy"
                        f" already; leave {'it' if one else 'them'} out of the group")
    flipped = f"{ABLATED if on else ADDED}{'+'.join(rules)}"
    raise UserError(f"--methods {name!r}: {'+'.join(rules)} {'is' if one else 'are'} {state} in SONAR's policy"
                    f" already, so this variant is SONAR itself; the variant that flips {'it' if one else 'them'} is"
                    f" {flipped}")
