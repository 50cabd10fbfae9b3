"""Benchmark of the grading kit, side by side in one run on the same files; writes bench/RESULTS.md.

    python bench/run.py                      # all parts, sizes of the targets (20 submissions, 2 workers)
    python bench/run.py --parts a --repeat 5
    python bench/run.py --parts b --n 6 --workers 2 --out /tmp/bench.md

(a) overhead: grading the 02 answer key (`grade_notebook`: preamble, kernel run, export, checks) vs executing the
    same notebook with plain nbclient, both in this process after one warm-up run each; median of --repeat runs.
    Target: ratio <= 1.05.
(b) throughput: --n submissions of 02 (the answer key, the blank release and mutants of the key, cycled) graded by
    the kit with --workers workers (`autograder grade DIR --workers N`) vs `nbgrader autograde 02-graphs --force` of
    the same files in a temporary nbgrader course (generate_assignment with its gradebook,
    submitted/<student>/02-graphs/), with the kit's mean time per step. Target: nbgrader / kit >= 3.
(c) the whole answer-key set graded with --workers workers: wall time, and per notebook the peak RSS of the
    grading worker's whole process tree (grading process, check worker, execution worker, kernel).
    Target: <= 2 GB per worker.
(d) a mix: every practical's answer key, blank release and first mutant, kit vs nbgrader autograde (each
    assignment in turn). Target: nbgrader / kit >= 2.

Nothing here is a test: numbers depend on the machine and its load (the load average is recorded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
# `python bench/run.py` with any Python: run again in the kit's venv, its bin first on PATH (nbgrader runs alembic)
if VENV.is_dir() and Path(sys.prefix).resolve() != VENV.resolve():
    os.environ["PATH"] = os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")])
    os.execv(VENV / "bin" / "python", [str(VENV / "bin" / "python"), *sys.argv])

import nbformat  # noqa: E402

sys.path.insert(0, str(REPO))
os.environ.setdefault("AUTOGRADER_SECRET", "bench-secret")  # the hidden inputs' seed (a course has its own)

from autograder import mutants, practicals  # noqa: E402
from autograder.engine.kernels import KERNEL_FLAGS as KIT_FLAGS  # noqa: E402
from autograder.grade import environment, grade_notebook  # noqa: E402

NAME = "02-graphs"
# Mutants of the 02 answer key, by id from the practical's own list (autograder/practicals/p02_graphs/mutants.py).
BENCH_MUTANTS = ("wrong-axis", "mean-not-sum", "missing-bias", "closed-form-sign", "python-loop")
# What the kit's kernels get (engine.kernels.kernel_env); nbgrader and plain nbclient get the same, to compare like with like.
KERNEL_FLAGS = {**KIT_FLAGS, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg"}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- machine ----------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {"cpu": cpu, "cores": cores, "memory": mem, "platform": platform.platform(),
            "python": platform.python_version()}


def busy_cpu_s() -> float:
    """The machine's busy CPU-seconds so far (all cores; /proc/stat), to say how much of the cores a side used."""
    try:
        f = open("/proc/stat").readline().split()[1:]
        return (int(f[0]) + int(f[1]) + int(f[2]) + int(f[5]) + int(f[6])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# -- submissions ------------------------------------------------------------------------------------

def mutate(nb, edits):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for old, new in edits:
        hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        if sum(c.source.count(old) for c in hits) != 1:
            return None
        hits[0].source = hits[0].source.replace(old, new)
    return nb


def variants_of(name: str, mutant_ids) -> list[tuple[str, object]]:
    """(variant, notebook): the answer key, the blank release and the mutants ``mutant_ids`` of ``name``."""
    a = practicals.get(name)
    key = nbformat.read(a.solution_notebook(REPO), as_version=4)
    variants = [("answer-key", key), ("blank-release", nbformat.read(a.release_notebook(REPO), as_version=4))]
    known = {m[0]: m[1] for m in mutants.load(name)}
    for vname in mutant_ids:
        m = mutate(key, known[vname]) if vname in known else None
        if m is None:
            log(f"mutant {vname} of {name} no longer applies to the answer key; skipped")
        else:
            variants.append((vname, m))
    return variants


def make_submissions(n: int, folder: Path) -> list[tuple[str, str, str, Path]]:
    """``n`` submissions of 02 (student, assignment, variant, path) at folder/<student>/02-graphs/02-graphs.ipynb."""
    variants = variants_of(NAME, BENCH_MUTANTS)
    return write_submissions([(NAME, *variants[i % len(variants)]) for i in range(n)], folder)


def make_mix(folder: Path) -> list[tuple[str, str, str, Path]]:
    """Every practical's answer key, blank release and first mutant, one student each."""
    return write_submissions([(name, *v) for name in practicals.REGISTRY
                              for v in variants_of(name, [mutants.load(name)[0][0]])], folder)


def write_submissions(items, folder: Path) -> list[tuple[str, str, str, Path]]:
    out = []
    for i, (name, vname, nb) in enumerate(items):
        student = f"s{i:03d}"
        path = folder / student / name / practicals.get(name).notebook
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        out.append((student, name, vname, path))
    return out


# -- part (a) -----------------------------------------------------------------------------------------

def run_plain(path: Path, cwd: Path) -> float:
    """Execute a notebook with plain nbclient (what `jupyter nbconvert --execute` does), same kernel."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    t0 = time.monotonic()
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=None, startup_timeout=120,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return time.monotonic() - t0


def part_a(repeat: int, work: Path) -> dict:
    a = practicals.get(NAME)
    key = a.solution_notebook(REPO)
    cwd = work / "plain"
    cwd.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in KERNEL_FLAGS}
    os.environ.update(KERNEL_FLAGS)  # plain kernels inherit these; the kit's kernels set them themselves
    try:
        log("(a) warm-up: one graded run and one plain run (not counted)")
        t0 = time.monotonic()
        r = grade_notebook(key)
        cold_grade = time.monotonic() - t0
        cold_plain = run_plain(key, cwd)
        if r.status != "graded" or r.score != r.max_score:
            log(f"(a) WARNING: the answer key scored {r.score}/{r.max_score} ({r.status} {r.reason})")
        grade_t, plain_t, bad, split = [], [], [], []
        for i in range(repeat):  # alternate, so load changes hit both sides alike
            t0 = time.monotonic()
            ri = grade_notebook(key)
            grade_t.append(time.monotonic() - t0)
            split.append((ri.timings.get("execute_s", 0.0), ri.timings.get("checks_s", 0.0)))
            if ri.status != "graded" or ri.score != ri.max_score:
                bad.append(f"run {i + 1}: {ri.status} {ri.score:g}/{ri.max_score:g} {ri.reason}")
            plain_t.append(run_plain(key, cwd))
            log(f"(a) run {i + 1}/{repeat}: kit {grade_t[-1]:.2f} s, plain nbclient {plain_t[-1]:.2f} s")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    g, p = statistics.median(grade_t), statistics.median(plain_t)
    return {"kit_s": grade_t, "plain_s": plain_t, "kit_median_s": g, "plain_median_s": p, "ratio": g / p,
            "cold_kit_s": cold_grade, "cold_plain_s": cold_plain, "repeat": repeat,
            "key": f"{r.status} {r.score:g}/{r.max_score:g}", "bad_runs": bad, "split": split, "notes": list(r.notes) + ([r.reason] if r.reason else [])}


# -- part (b) -----------------------------------------------------------------------------------------

def kit_grade(folder: Path, workers: int, out: Path) -> tuple[float, dict, str]:
    """Grade every notebook under ``folder`` with the CLI; returns (seconds, {path: result}, how)."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(folder), "--workers", str(workers),
           "--out", str(out), "--brief"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        log(f"(b) kit CLI exit {proc.returncode}: {proc.stderr[-1000:]}")
    results = {}
    for f in out.rglob("*.json"):
        try:
            d = json.loads(f.read_text())
            results[str(Path(d["submission"]).resolve())] = d
        except (ValueError, KeyError, OSError):
            pass
    return wall, results, "autograder grade DIR --workers N (CLI, includes its start-up)"


def nbgrader_env() -> dict:
    env = dict(os.environ, **KERNEL_FLAGS)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # alembic
    return env


def nbgrader_course(tmp: Path, names) -> Path:
    course = tmp / "nbgrader-course"
    (course / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    for name in names:
        shutil.copytree(REPO / "source" / name, course / "source" / name)
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"], cwd=course,
                              env=nbgrader_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return course


def nbgrader_scores(course: Path, names) -> dict:
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name in names:
            for sub in gb.assignment_submissions(name):
                scores[(sub.student.id, name)] = (sub.score, sub.max_score)
    return scores


STEPS = ("prepare_s", "kernel_start_s", "preamble_s", "cells_s", "export_s", "retrace_wait_s", "checks_s", "total_s")


def part_b(subs, workers: int, work: Path, course: Path, label: str) -> dict:
    """The kit (``workers`` workers) then ``nbgrader autograde`` (one notebook at a time) on the same submissions."""
    names = list(dict.fromkeys(name for _, name, _, _ in subs))
    log(f"({label}) {len(subs)} submissions: " + ", ".join(sorted({f'{n} {v}' for _, n, v, _ in subs})))
    log(f"({label}) kit, {workers} worker(s)")
    c0 = busy_cpu_s()
    kit_s, kit_results, how = kit_grade(course / "submitted", workers, work / f"kit-grades-{label}")
    kit_cpu = busy_cpu_s() - c0
    log(f"({label}) kit: {kit_s:.1f} s, {kit_cpu:.0f} CPU-s; now nbgrader autograde (one at a time, as nbgrader does)")
    t0, c0, rcs, per_name = time.monotonic(), busy_cpu_s(), [], {}
    for name in names:
        t1 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", name, "--force"], cwd=course,
                              env=nbgrader_env(), capture_output=True, text=True)
        rcs.append(proc.returncode)
        if proc.returncode != 0:
            log(f"({label}) nbgrader autograde {name} exit {proc.returncode}: {proc.stderr[-1500:]}")
        per_name[name] = round(time.monotonic() - t1, 1)
    nbg_s, nbg_cpu = time.monotonic() - t0, busy_cpu_s() - c0
    log(f"({label}) nbgrader: {nbg_s:.1f} s, {nbg_cpu:.0f} CPU-s ({per_name})")
    try:
        nbg = nbgrader_scores(course, names)
    except Exception as e:  # the benchmark is about time; scores are a sanity column
        log(f"({label}) could not read nbgrader's gradebook: {e}")
        nbg = {}
    rows = []
    for student, name, variant, path in subs:
        kr = kit_results.get(str(path.resolve()), {})
        ns = nbg.get((student, name))
        rows.append({"student": student, "assignment": name, "variant": variant, "kit": kr.get("score"),
                     "status": kr.get("status"), "timings": kr.get("timings", {}),
                     "nbgrader": ns[0] if ns else None, "nbgrader_max": ns[1] if ns else None})
    steps = {k: round(sum(r["timings"].get(k, 0.0) for r in rows) / max(len(rows), 1), 2) for k in STEPS}
    return {"label": label, "n": len(subs), "workers": workers, "kit_s": kit_s, "nbgrader_s": nbg_s,
            "speedup": nbg_s / kit_s, "kit_how": how, "nbgrader_rc": max(rcs, default=0), "rows": rows,
            "mean_steps": steps, "names": names, "kit_cpu_s": kit_cpu, "nbgrader_cpu_s": nbg_cpu,
            "nbgrader_per_assignment_s": per_name}


# -- part (c) -----------------------------------------------------------------------------------------

def _tree_rss_mb(proc) -> float:
    """RSS of a process and its descendants, measured as the kit's own watchdog does."""
    from autograder.engine.limits import process_tree, rss_mb

    return rss_mb(process_tree(proc))


def _tree_pss_mb(proc) -> tuple[float, dict[str, float]]:
    """PSS of a process and its descendants (each shared page split between the processes that map it: a
    library both TensorFlow processes of a worker map counts once, not twice), total and per process."""
    import psutil

    from autograder.engine.limits import process_tree

    per: dict[str, float] = {}
    for p in process_tree(proc):
        try:
            m = p.memory_full_info()
            mb = (m.pss if hasattr(m, "pss") else m.rss) / 2**20
            per[f"{p.pid} {' '.join(p.cmdline()[1:4])[:60]}"] = round(mb, 1)
        except psutil.Error:
            pass
    return sum(per.values()), per


def _grade_key(name: str) -> dict:
    """Grade one answer key in this worker, sampling the memory of the worker's whole process tree meanwhile."""
    import threading

    import psutil

    a = practicals.get(name)
    me, peak, pss, done = psutil.Process(), [0.0], [0.0, {}], threading.Event()

    def sample():
        ticks = 0
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_mb(me))
            if ticks % 3 == 0:   # smaps_rollup costs more than RSS: every 0.3 s
                total, per = _tree_pss_mb(me)
                if total > pss[0]:
                    pss[:] = [total, per]
            ticks += 1
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    try:
        r = grade_notebook(a.solution_notebook(REPO))
    finally:
        done.set()
        sampler.join()
    return {"name": name, "status": r.status, "score": r.score, "max": r.max_score,
            "wall_s": round(time.monotonic() - t0, 2), "kernel_peak_mb": r.environment.get("peak_rss_mb", 0.0),
            "worker_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "pid": os.getpid(),
            "tree_peak_mb": round(peak[0], 1), "tree_pss_peak_mb": round(pss[0], 1), "pss_at_peak": pss[1],
            "notes": list(r.notes) + ([r.reason] if r.reason else [])}


def _available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def part_c(workers: int, keys: list[str] | None = None) -> dict:
    names = [n for n, a in practicals.REGISTRY.items() if a.solution_notebook(REPO).is_file()
             and (not keys or n in keys)]
    log(f"(c) answer keys: {', '.join(names)} with {workers} worker(s)")
    import threading

    before, low, done = _available_mb(), [_available_mb()], threading.Event()

    def watch():   # the machine's own view: how far its available memory fell while the workers graded
        while not done.is_set():
            low[0] = min(low[0], _available_mb())
            done.wait(0.2)

    threading.Thread(target=watch, daemon=True).start()
    t0 = time.monotonic()
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_grade_key, names))
    finally:
        done.set()
    wall = time.monotonic() - t0
    # per worker: the peak RSS and the peak PSS of its whole process tree (grading process, check worker,
    # execution worker, kernel), sampled while it graded
    peak = max((r["tree_peak_mb"] for r in rows), default=0.0)
    pss = max((r["tree_pss_peak_mb"] for r in rows), default=0.0)
    return {"names": names, "workers": workers, "wall_s": wall, "rows": rows, "peak_per_worker_mb": peak,
            "pss_per_worker_mb": pss, "machine_used_mb": round(before - low[0], 1)}


# -- report -------------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def render(results: dict, meta: dict) -> str:
    m = meta["machine"]
    env = meta["environment"]
    lines = [
        "# Benchmark results", "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores usable, {m['memory']}; {m['platform']}; Python {m['python']}",
        f"- load average (1/5/15 min) before: {meta['load_before']}; after: {meta['load_after']}"
        + ("  (the machine was shared: numbers are noisy)" if meta.get("noisy") else ""),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()),
        f"- kernel flags: {', '.join(f'{k}={v}' for k, v in KERNEL_FLAGS.items())}", "",
        "| part | measured | target | verdict |", "|---|---|---|---|",
    ]
    a, b, c = results.get("a"), results.get("b"), results.get("c")
    batches = [x for x in (results.get("b"), results.get("d")) if x]
    if a:
        lines.append(f"| (a) grade 02 key vs plain nbclient | {a['kit_median_s']:.2f} s / {a['plain_median_s']:.2f} s "
                     f"= **{a['ratio']:.2f}** (median of {a['repeat']}) | <= 1.05 | "
                     + ("**invalid: the kit did not grade the key fully** |" if a["bad_runs"] else
                        f"{verdict(a['ratio'] <= 1.05)} |"))
    for x in batches:
        what, goal = ((f"{x['n']} submissions of 02", 3) if x["label"] == "b" else
                      (f"a mix of {x['n']} submissions of {len(x['names'])} practicals", 2))
        lines.append(f"| ({x['label']}) {what}: nbgrader autograde vs kit ({x['workers']} workers) | "
                     f"{x['nbgrader_s']:.1f} s / {x['kit_s']:.1f} s = **{x['speedup']:.2f}x** | >= {goal}x | "
                     f"{verdict(x['speedup'] >= goal)} |")
    if c:
        gb, pss = c["peak_per_worker_mb"] / 1024, c["pss_per_worker_mb"] / 1024
        lines.append(f"| (c) answer keys ({len(c['names'])}: {', '.join(c['names'])}), {c['workers']} workers | "
                     f"{c['wall_s']:.1f} s, peak per worker: **{pss:.2f} GB** PSS ({gb:.2f} GB summing RSS, which "
                     f"counts shared libraries once per process); the machine's available memory fell "
                     f"{c['machine_used_mb'] / 1024:.2f} GB for {c['workers']} workers | <= 2 GB per worker | "
                     + ("**invalid: an answer key was not fully graded** |"
                        if any(r["status"] != "graded" or r["score"] != r["max"] for r in c["rows"])
                        else f"{verdict(pss <= 2)} |"))
    if a:
        lines += ["", "## (a) overhead of grading one notebook", "",
                  "Both in the benchmark's process after one warm-up run each (the grader has TensorFlow imported, as "
                  "in a long grading run); the kit's time includes its preamble, export cell, worker process and the "
                  "checks.", "",
                  f"- kit (grade_notebook) runs: {', '.join(f'{t:.2f}' for t in a['kit_s'])} s; "
                  f"first (cold) run {a['cold_kit_s']:.2f} s",
                  "- of which execute step (worker process, kernel, preamble, export) / checks in the grader: "
                  + ", ".join(f"{e:.2f} / {c:.2f}" for e, c in a["split"]) + " s",
                  f"- plain nbclient runs: {', '.join(f'{t:.2f}' for t in a['plain_s'])} s; "
                  f"first (cold) run {a['cold_plain_s']:.2f} s",
                  f"- the answer key in the warm-up: {a['key']}"
                  + (f"; FAILED timed runs: {'; '.join(a['bad_runs'])}" if a["bad_runs"] else "") + (f"; notes: {'; '.join(a['notes'])}" if a["notes"] else "")]
    for b in batches:
        lines += ["", f"## ({b['label']}) a batch of submissions", "", f"- kit: {b['kit_how']}",
                  f"- nbgrader: `nbgrader autograde A --force` for {', '.join(b['names'])} in a temporary course "
                  "(generate_assignment with its gradebook; its default 30 s cell timeout), one notebook at a time "
                  f"(exit code {b['nbgrader_rc']}); seconds per assignment: "
                  + ", ".join(f"{k} {v:g}" for k, v in b.get("nbgrader_per_assignment_s", {}).items()),
                  f"- the machine's busy CPU-seconds (all {os.cpu_count()} cores) during each side: kit "
                  f"{b.get('kit_cpu_s', float('nan')):.0f}, nbgrader {b.get('nbgrader_cpu_s', float('nan')):.0f}",
                  "- the kit's mean seconds per submission, by step (kernel start and preamble run before the "
                  "submission comes when the worker's kernel is warm): "
                  + ", ".join(f"{k[:-2]} {v:.2f}" for k, v in b["mean_steps"].items()), "",
                  "| student | assignment | variant | kit score | kit status | kit total (s) | kit cells + export (s) | "
                  "nbgrader score |", "|---|---|---|---|---|---|---|---|"]
        for r in b["rows"]:
            ns = "-" if r["nbgrader"] is None else f"{r['nbgrader']:g}/{r['nbgrader_max']:g}"
            ks = "-" if r["kit"] is None else f"{r['kit']:g}"
            t = r["timings"]
            lines.append(f"| {r['student']} | {r['assignment']} | {r['variant']} | {ks} | {r['status']} | "
                         f"{t.get('total_s', 0):.1f} | {t.get('cells_s', 0) + t.get('export_s', 0):.1f} | {ns} |")
        lines += ["", "nbgrader scores a test cell 0 when it writes anything on stderr, and its scores count only "
                      "the grade cells' own asserts; the column is a sanity check that it ran, not a comparison of "
                      "verdicts."]
    if c:
        lines += ["", "## (c) the answer-key set", "",
                  "| answer key | status | score | wall (s) | worker tree peak, PSS (MB) | worker tree peak, RSS "
                  "summed (MB) | kernel tree peak (MB) | grading process peak (MB) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in c["rows"]:
            lines.append(f"| {r['name']} | {r['status']} | {r['score']:g}/{r['max']:g} | {r['wall_s']:.1f} | "
                         f"{r['tree_pss_peak_mb']:.0f} | {r['tree_peak_mb']:.0f} | {r['kernel_peak_mb']:.0f} | "
                         f"{r['worker_peak_mb']:.0f} |")
        lines += ["", "Worker tree peak: the memory of the grading worker's whole process tree (grading process, "
                      "check worker, execution worker, kernel) at its highest while it graded that key: PSS sampled "
                      "every 0.3 s (a page shared by several processes, such as TensorFlow's libraries mapped by "
                      "both the kernel and the check worker, is split between them), RSS summed every 0.1 s (each "
                      "process counts every page it maps). Kernel tree peak is the kit's own measure "
                      "(environment.peak_rss_mb, RSS); the grading process peak is its ru_maxrss so far.", "",
                      "Where the bytes were at each key's PSS peak (MB per process):", ""]
        for r in c["rows"]:
            lines.append(f"- {r['name']}: " + "; ".join(f"`{k}` {v:.0f}" for k, v in r["pss_at_peak"].items()))
        notes = sorted({n for r in c["rows"] for n in r["notes"]})
        if notes:
            lines += ["", "Notes from the grader: " + "; ".join(notes)]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default="a,b,c,d", help="comma-separated parts to run (default a,b,c,d)")
    p.add_argument("--n", type=int, default=20, help="(b) number of submissions (default 20)")
    p.add_argument("--workers", type=int, default=2, help="(b, c) grading workers (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="(a) timed runs per side after the warm-up (default 3)")
    p.add_argument("--keys", default=None, help="(c) comma-separated answer keys (default: every one in solutions/)")
    p.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"), help="markdown report (default bench/RESULTS.md)")
    p.add_argument("--json", default=None, help="also write the raw numbers as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (submissions, nbgrader course)")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if not set(parts) <= {"a", "b", "c", "d"}:
        p.error("--parts takes a comma-separated subset of a,b,c,d")

    meta = {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "command": "python bench/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
            "machine": machine(), "environment": environment("cpu"), "load_before": loadavg()}
    work = Path(tempfile.mkdtemp(prefix="ag-bench-"))
    results = {}
    try:
        if "a" in parts:
            results["a"] = part_a(args.repeat, work)
        if "b" in parts:
            course = nbgrader_course(work / "b", [NAME])
            results["b"] = part_b(make_submissions(args.n, course / "submitted"), args.workers, work, course, "b")
        if "d" in parts:
            course = nbgrader_course(work / "d", list(practicals.REGISTRY))
            results["d"] = part_b(make_mix(course / "submitted"), args.workers, work, course, "d")
        if "c" in parts:
            results["c"] = part_c(args.workers, args.keys.split(",") if args.keys else None)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta["load_after"] = loadavg()
    try:
        first = max(float(meta["load_before"].split()[0]), float(meta["load_after"].split()[0]))
        meta["noisy"] = first > 0.5 * (meta["machine"]["cores"] or 1)
    except ValueError:
        meta["noisy"] = None
    report = render(results, meta)
    Path(args.out).write_text(report)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    print(report)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
