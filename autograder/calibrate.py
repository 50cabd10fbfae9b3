"""Calibrated thresholds: grade an answer key under K seeds, derive each numeric check's threshold, write it down.

``autograder calibrate NN-name`` grades ``solutions/NN-name/NN-name.ipynb`` once per seed (the grader injects the
seed before the first cell), collects every value a check recorded with ``art.measure`` (``expect_calibrated``),
and writes the practical's ``thresholds.json`` (``autograder/practicals/<package>/thresholds.json``)::

    {"_provenance": {"seeds": [...], "versions": {...}, "device": "cpu", "date": "...", "command": "...", ...},
     "<key>": {"threshold": 0.80, "kind": "min", "margin": 0.02, "observed": [...one per seed...],
               "rule": "worst seed minus margin", "wrong_example": 0.10, ...}}

Rule: kind "min" (higher is better, e.g. an accuracy): threshold = lowest observed value - margin;
kind "max" (lower is better, e.g. a loss): threshold = highest observed value + margin. Thresholds are rounded
to ``DECIMALS`` away from the observations, so every observed value keeps satisfying its threshold.

When the file exists, each key keeps its "kind", "margin", "wrong_example" and any other field the author put
there (a note, a "what"); only "threshold", "observed" and "rule" are recomputed. "wrong_example" is a value a
known-wrong submission reaches (chance level, an untrained model): tests/test_calibrate.py asserts that every
threshold separates the answer key's observations from it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from autograder import practicals

DEFAULT_K = 5
DEFAULT_MARGIN = 0.02
DECIMALS = 4
RULES = {"min": "worst seed minus margin", "max": "worst seed plus margin"}
# Also accepted when reading a hand-written file (same arithmetic).
RULE_SYNONYMS = {"worst seed minus margin": "min", "lowest seed minus margin": "min",
                 "worst seed plus margin": "max", "highest seed plus margin": "max", "best seed plus margin": "max"}
PROVENANCE = "_provenance"


class CalibrationError(RuntimeError):
    pass


def default_seeds(k: int = DEFAULT_K) -> list[int]:
    """``k`` seeds starting at the grader's default seed (so the seed used at grading time is one of them)."""
    from autograder.engine.execute import DEFAULT_SEED

    return [DEFAULT_SEED + i for i in range(k)]


# -- the arithmetic -------------------------------------------------------------------------------

def derive_threshold(observed, kind: str = "min", margin: float = DEFAULT_MARGIN, decimals: int = DECIMALS) -> float:
    """The threshold for ``observed`` values: worst minus margin ("min") or worst plus margin ("max").

    Rounded to ``decimals`` towards the side that keeps every observation satisfying it.
    """
    values = [float(v) for v in observed]
    if not values:
        raise ValueError("no observed values")
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"observed values must be finite, got {values}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    scale = 10 ** decimals
    if kind == "min":
        raw = min(values) - margin
        return math.floor(round(raw * scale, 6)) / scale
    if kind == "max":
        raw = max(values) + margin
        return math.ceil(round(raw * scale, 6)) / scale
    raise ValueError(f"kind must be 'min' or 'max', got {kind!r}")


def satisfies(value: float, threshold: float, kind: str) -> bool:
    """Whether ``value`` passes ``threshold`` the way ``expect_calibrated`` judges it."""
    return value >= threshold if kind == "min" else value <= threshold


def wrong_examples(entry: dict) -> list[float]:
    w = entry.get("wrong_example")
    if w is None:
        return []
    return [float(v) for v in (w if isinstance(w, (list, tuple)) else [w])]


def entry_problems(key: str, entry: dict, decimals: int = DECIMALS) -> list[str]:
    """What is wrong with one key's record (empty when it is consistent). Pure file logic, no grading."""
    problems = []
    kind = entry.get("kind", "min")
    if kind not in ("min", "max"):
        return [f"{key}: kind must be 'min' or 'max', got {kind!r}"]
    try:
        limit = float(entry["threshold"])
        observed = [float(v) for v in entry["observed"]]
        margin = float(entry.get("margin", DEFAULT_MARGIN))
    except (KeyError, TypeError, ValueError) as e:
        return [f"{key}: needs numeric 'threshold' and a list 'observed' ({type(e).__name__}: {e})"]
    if not observed:
        return [f"{key}: 'observed' is empty"]
    for v in observed:
        if not satisfies(v, limit, kind):
            problems.append(f"{key}: the answer key observed {v:.4f}, which fails its own threshold "
                            f"({'>=' if kind == 'min' else '<='} {limit:.4f})")
    rule = entry.get("rule", RULES[kind])
    if RULE_SYNONYMS.get(rule) != kind:
        problems.append(f"{key}: rule {rule!r} is not a known rule for kind {kind!r} (expected {RULES[kind]!r})")
    else:
        expected = derive_threshold(observed, kind, margin, decimals)
        if abs(expected - limit) > 10 ** -decimals + 1e-12:
            problems.append(f"{key}: threshold {limit} does not follow {rule!r} with margin {margin}: "
                            f"expected {expected} from observed {observed}")
    for w in wrong_examples(entry):
        if satisfies(w, limit, kind):
            problems.append(f"{key}: the known-wrong value {w} passes the threshold {limit} ({kind}): too loose")
    return problems


def file_problems(data: dict, *, require_wrong_example: bool = True) -> list[str]:
    """Problems of a whole thresholds file (dict already parsed)."""
    problems = []
    prov = data.get(PROVENANCE)
    if not isinstance(prov, dict):
        problems.append(f"no {PROVENANCE!r} record")
    else:
        for field in ("seeds", "versions", "device", "date"):
            if field not in prov:
                problems.append(f"{PROVENANCE}: missing {field!r}")
        seeds = prov.get("seeds", [])
        if isinstance(seeds, list) and len(seeds) < DEFAULT_K:
            problems.append(f"{PROVENANCE}: only {len(seeds)} seeds, calibrate with at least {DEFAULT_K}")
    for key, entry in data.items():
        if key.startswith("_"):
            continue
        if not isinstance(entry, dict):
            problems.append(f"{key}: not an object")
            continue
        problems += entry_problems(key, entry)
        if require_wrong_example and not wrong_examples(entry):
            problems.append(f"{key}: no 'wrong_example' (a value a known-wrong submission reaches, e.g. chance level)")
        if isinstance(prov, dict) and isinstance(prov.get("seeds"), list) and isinstance(entry.get("observed"), list) \
                and len(entry["observed"]) != len(prov["seeds"]):
            problems.append(f"{key}: {len(entry['observed'])} observed values for {len(prov['seeds'])} seeds")
    return problems


# -- files ----------------------------------------------------------------------------------------

def thresholds_path(name: str, folder: str | Path | None = None) -> Path:
    """The practical's ``thresholds.json``; with ``folder`` (trial runs), ``<folder>/<name>.json``."""
    return Path(folder) / f"{name}.json" if folder else practicals.get(name).thresholds


def load(name: str, folder: str | Path | None = None) -> dict:
    path = thresholds_path(name, folder)
    return json.loads(path.read_text()) if path.is_file() else {}


def build_file(measured: dict[str, list[float]], seeds: list[int], *, previous: dict | None = None,
               default_margin: float = DEFAULT_MARGIN, default_kind: str = "min",
               provenance: dict | None = None, wrong: dict | None = None) -> tuple[dict, list[str]]:
    """The new thresholds file from per-key observations (one value per seed); returns (data, warnings).

    Keys of ``previous`` keep their kind, margin, wrong_example and other fields; their order is kept too.
    ``wrong``: {key: value} sets (replaces) a key's wrong_example.
    """
    previous = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (previous or {}).items()}
    for key, value in (wrong or {}).items():
        if key not in previous and key not in measured:
            raise CalibrationError(f"--wrong {key}: no such key (measured: {', '.join(sorted(measured)) or 'none'})")
        if key in previous:
            previous[key]["wrong_example"] = value
    wrong = wrong or {}
    warnings = []
    data: dict = {PROVENANCE: dict(provenance or {}, seeds=list(seeds))}
    keys = [k for k in previous if not k.startswith("_")] + sorted(k for k in measured if k not in previous)
    for key in keys:
        old = dict(previous.get(key) or {})
        if key not in measured:
            warnings.append(f"{key}: in the previous file but no check measured it; kept unchanged")
            data[key] = old
            continue
        values = measured[key]
        if len(values) != len(seeds):
            warnings.append(f"{key}: measured under {len(values)} of {len(seeds)} seeds")
        kind = old.get("kind", default_kind)
        margin = float(old.get("margin", default_margin))
        if key not in previous:
            warnings.append(f"{key}: new key, kind {kind!r} and margin {margin} by default; "
                            "edit them and add a 'wrong_example', then calibrate again")
        entry = {"threshold": derive_threshold(values, kind, margin), "kind": kind, "margin": margin,
                 "observed": [round(float(v), 6) for v in values], "rule": RULES[kind]}
        for extra, value in old.items():  # the author's fields (wrong_example, what, note, ...)
            if extra not in entry:
                entry[extra] = value
        if key in wrong:
            entry["wrong_example"] = wrong[key]
        data[key] = entry
        for p in entry_problems(key, entry):
            if "known-wrong" in p:
                warnings.append(p)
    return data, warnings


def write(name: str, data: dict, folder: str | Path | None = None) -> Path:
    path = thresholds_path(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


# -- grading the answer key -----------------------------------------------------------------------

def _grade_one(args):
    path, seed, device, timeout_s = args
    from autograder.grade import grade_notebook

    r = grade_notebook(path, seed=seed, device=device, timeout_s=timeout_s)
    return seed, r.status, r.score, r.max_score, r.reason, dict(r.measurements), r.environment, \
        r.timings.get("total_s", 0.0), [c.name for c in r.checks if c.status not in ("passed", "skipped")]


def calibrate(name: str, *, seeds: list[int] | None = None, device: str = "cpu", margin: float = DEFAULT_MARGIN,
              timeout_s: float | None = None, root=None, folder: str | Path | None = None, workers: int = 1,
              notebook: str | Path | None = None, command: str | None = None, dry_run: bool = False,
              wrong: dict | None = None, log=print) -> tuple[dict, list[str]]:
    """Grade the answer key of ``name`` under ``seeds`` and (unless ``dry_run``) write its thresholds file."""
    assignment = practicals.get(name)
    seeds = list(seeds or default_seeds())
    path = Path(notebook) if notebook else assignment.solution_notebook(root)
    if not path.is_file():
        raise CalibrationError(f"{name}: no answer key at {path}; run `autograder release {name}` first")
    jobs = [(str(path), s, device, timeout_s) for s in seeds]

    def report(run):
        s, status, score, mx, _, meas, _, t, _ = run
        log(f"{name} seed {s}: {status} {score:g}/{mx:g} in {t:.1f} s, measured "
            + (", ".join(f"{k}={v:.4f}" for k, v in sorted(meas.items())) or "nothing"))
        return run

    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            runs = [report(r) for r in pool.map(_grade_one, jobs)]
    else:
        runs = [report(_grade_one(job)) for job in jobs]
    problems = []
    measured: dict[str, list[float]] = {}
    for s, status, score, mx, reason, meas, _, _, failed in runs:
        if status != "graded":
            problems.append(f"seed {s}: the answer key was not graded ({status}: {reason})")
        if failed:  # expected for calibrated checks when the file is new or stale; otherwise the key's fault
            problems.append(f"seed {s}: the answer key did not pass {', '.join(failed)} "
                            f"({score:g}/{mx:g}) before recalibration")
        for k, v in meas.items():
            measured.setdefault(k, []).append(v)
    # Every key needs one observation per seed: a seed that did not grade, or a key one seed did not measure,
    # leaves the distribution incomplete, so nothing is written.
    incomplete = [p for p in problems if "was not graded" in p]
    incomplete += [f"{k}: measured under {len(v)} of {len(seeds)} seeds" for k, v in measured.items()
                   if len(v) != len(seeds)]
    if incomplete:
        raise CalibrationError(f"{name}: incomplete calibration, nothing written: " + "; ".join(incomplete))
    env = runs[0][6]
    provenance = {
        "versions": env.get("versions", {}),
        "device": device,
        "python": env.get("python"),
        "platform": env.get("platform"),
        "cpus": env.get("cpus"),
        "flags": env.get("flags", {}),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or f"autograder calibrate {name} --seeds {','.join(map(str, seeds))} --device {device}",
        "how": f"graded {path.relative_to(path.parents[2]) if len(path.parents) > 2 else path} once per seed with "
               "the grader's injected seed; per key: kind min -> lowest observed minus margin, kind max -> highest "
               "observed plus margin",
        "answer_key_scores": {str(r[0]): f"{r[2]:g}/{r[3]:g}" for r in runs},
    }
    previous = load(name, folder)
    data, warnings = build_file(measured, seeds, previous=previous, default_margin=margin, provenance=provenance,
                                wrong=wrong)
    if not measured:
        warnings.append(f"{name}: no check measured anything (no expect_calibrated in its checks); nothing to write")
    if not dry_run and measured:
        out = write(name, data, folder)
        log(f"wrote {out}")
    return data, problems + warnings


def summary(data: dict) -> str:
    lines = ["| key | kind | margin | observed (min..max) | threshold | wrong example |", "|---|---|---|---|---|---|"]
    for key, e in data.items():
        if key.startswith("_") or "observed" not in e:
            continue
        obs = e["observed"]
        w = ", ".join(f"{v:g}" for v in wrong_examples(e)) or "-"
        lines.append(f"| {key} | {e['kind']} | {e['margin']:g} | {min(obs):.4f}..{max(obs):.4f} (n={len(obs)}) "
                     f"| {e['threshold']:.4f} | {w} |")
    return "\n".join(lines)


def main_cli(args) -> int:
    """Body of ``autograder calibrate`` (cli.py parses the arguments)."""
    names = args.assignments or [n for n in practicals.REGISTRY if thresholds_path(n).is_file()]
    if not names:
        print("no assignment named and no thresholds file exists yet", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else default_seeds(args.k)
    command = "autograder " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    wrong = {}
    for item in getattr(args, "wrong", None) or []:
        key, _, value = item.partition("=")
        try:
            wrong[key.strip()] = float(value)
        except ValueError:
            print(f"--wrong expects KEY=NUMBER, got {item!r}", file=sys.stderr)
            return 2
    status = 0
    for name in names:
        try:
            data, problems = calibrate(name, seeds=seeds, device=args.device, margin=args.margin,
                                       timeout_s=args.timeout, root=args.root, workers=args.workers,
                                       command=command, dry_run=args.dry_run, wrong=wrong,
                                       log=lambda m: print(m, file=sys.stderr))
        except (CalibrationError, practicals.UnknownAssignment) as e:
            print(f"ERROR: {e}", file=sys.stderr)
            status = 1
            continue
        print(f"## {name}\n{summary(data)}\n")
        for p in problems:
            print(f"WARNING: {p}", file=sys.stderr)
        if any(p.startswith("seed ") and "not graded" in p for p in problems):
            status = 1
    return status
