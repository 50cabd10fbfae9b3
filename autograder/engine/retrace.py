"""Graph structure captured from a clean process, not from the student's kernel (issue 15, class 3).

The exporter runs in the student's kernel after the student's cells: code that ran before it can patch
TensorFlow (``tf.Graph.as_graph_def``), IPython (post-run hooks), builtins or ``types``, and make the exported
GraphDefs describe a graph the student did not use. Values cannot be forged that way (they are compared with
references the grader computes) but structure can. So, after the kernel run, the grader re-traces the functions
whose structure is judged in a fresh interpreter that the student's kernel never touched, and overwrites those
artifacts of the question snapshots:

- from the NORMALISED notebook the grader holds (never anything from the kernel), only the top-level ``def``
  statements of the judged functions and of the functions of the notebook they use (transitively), literal
  constants (``K = 3``) and imports of numpy / tensorflow / math are kept, from the student's (unlocked) cells
  that stand before the question's check cell; every other statement is dropped;
- each kept definition must be a plain function: no attribute assignment or deletion, no ``global``, no
  ``_private`` / ``__dunder__`` names, no other imports; its builtins are a small safe set (no ``setattr``,
  ``exec``, ``open``, ``type``...). A definition that breaks a rule is not run: its artifacts get the reason;
- the given data (``N``, ``D``, ``x``, ``y``, ``w_np``, ``b_np``, the variables ``w`` and ``b``) is rebuilt from
  the practical's public data, computed by the grader;
- the subprocess takes its references to TensorFlow's tracing and serialising methods at import, before any
  student code runs, and writes its result (behind a nonce it read, then deleted, before student code ran) only
  once all student code has run; it runs sandboxed like a kernel (allow-list view, its own user id, rlimits)
  under CPU, wall-clock and memory limits, so a function that traces forever cannot hang the grader.

Under a root grader the fresh interpreter is the kernel's twin (``twin.py``): forked from the kernel's start-up
after TensorFlow's import, before any student code, it saves that import (3 s of CPU per submission); a twin
that gives no answer leaves the re-trace to a fresh process, as above.

A failure (syntax error, missing function, a broken rule, an error while tracing, a limit) writes no file for
the artifact and records ``{name: reason}`` in the snapshot's ``_errors.json``: the checks then say
"computing `total_error_graph` failed: ..." as they do for errors of the kernel-side exporter.

Run as ``python -m autograder.engine.retrace -f SPEC`` (the grader's side builds SPEC; see ``_child``).
"""

from __future__ import annotations

import ast
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.engine.artifacts import FINAL   # the snapshot taken by the final export cell

CPU_S = 90            # CPU time of the re-trace process (a loop over range(N) at [None, D] traces in ~10 s)
MEMORY_MB = 4096
MAX_RESULT_MB = 64
MODULES = ("numpy", "tensorflow", "math")   # the only imports a kept definition may make
SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "callable", "complex", "dict", "divmod", "enumerate", "filter", "float", "format",
    "frozenset", "hasattr", "hash", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min",
    "next", "pow", "print", "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple",
    "zip", "Exception", "ValueError", "TypeError", "NotImplementedError", "ArithmeticError", "ZeroDivisionError",
    "IndexError", "KeyError", "RuntimeError", "AssertionError", "StopIteration", "True", "False", "None",
)


class Refused(Exception):
    """A definition that does more than a graph function needs: it is not run."""


# -- the grader's side: what to run ----------------------------------------------------------------

def _student_cells(nb) -> list[tuple[int, str]]:
    """(index, source) of the code cells the student may edit (locked given cells are the release's)."""
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("locked"):
            continue
        cells.append((i, str(cell.get("source", ""))))
    return cells


def _check_cell_index(nb, question: str) -> int | None:
    """Where the engine snapshots ``question``: its locked check cell (assemble.check_cell_question)."""
    from autograder.engine.assemble import check_cell_question

    return next((i for i, cell in enumerate(nb.cells) if check_cell_question(cell) == question), None)


def _python(source: str) -> str:
    """A cell's source as Python (IPython magics and shell escapes become calls, which are dropped later)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _rule_broken(node: ast.AST) -> str | None:
    """Why a kept definition may not run, or None."""
    for n in ast.walk(node):
        line = f"line {getattr(n, 'lineno', '?')}"
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            return f"{line}: `global`/`nonlocal`"
        if isinstance(n, ast.ClassDef):
            return f"{line}: a class definition"
        if isinstance(n, ast.ImportFrom) or (isinstance(n, ast.Import) and any(a.name not in MODULES for a in n.names)):
            return f"{line}: an import of something other than {', '.join(MODULES)}"
        if isinstance(n, ast.Attribute):
            if not isinstance(n.ctx, ast.Load):
                return f"{line}: assigns or deletes an attribute (`.{n.attr}`)"
            if n.attr.startswith("_"):
                return f"{line}: uses a private attribute (`.{n.attr}`)"
        if isinstance(n, ast.Name) and n.id.startswith("__"):
            return f"{line}: uses the name `{n.id}`"
    return None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def definitions(nb, judged: list[str], before: int | None) -> tuple[list[dict], dict[str, str]]:
    """The chunks of student code to run for ``judged`` (cells before index ``before``), and refusals by name.

    Each chunk: {"cell": index, "source": the cell's Python source, "nodes": [line ranges]} — the clean process
    compiles only the listed top-level statements of the cell, with the cell's text for AutoGraph's sake.
    """
    found: dict[str, tuple[int, int, ast.stmt]] = {}   # name -> (cell, position, node): the last one wins
    imports: list[tuple[int, int, ast.stmt]] = []
    sources: dict[int, str] = {}
    for index, raw in _student_cells(nb):
        if before is not None and index >= before:
            continue
        source = _python(raw)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue   # the kernel defined nothing from this cell either
        sources[index] = source
        for pos, stmt in enumerate(tree.body):
            if isinstance(stmt, ast.FunctionDef):
                found[stmt.name] = (index, pos, stmt)
            elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                  and not stmt.targets[0].id.startswith("__")):
                try:
                    ast.literal_eval(stmt.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    found.pop(stmt.targets[0].id, None)   # rebound to something else: not a kept constant
                    continue
                found[stmt.targets[0].id] = (index, pos, stmt)
            elif isinstance(stmt, ast.Import) and all(a.name in MODULES for a in stmt.names):
                imports.append((index, pos, stmt))
    wanted, todo, refused = set(), [n for n in judged if n in found], {}
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        stmt = found[name][2]
        why = _rule_broken(stmt)
        if why:
            refused[name] = why
        todo += [n for n in _names(stmt) if n in found and n not in wanted]
    # a judged function that uses a refused one is refused too (it cannot run as the student wrote it)
    for name in judged:   # (a refused judged function is replaced by the reference where the practical does so)
        if name in wanted and name not in refused:
            bad = [n for n in refused if n in _reachable(name, found) and n not in judged]
            if bad:
                refused[name] = f"it uses `{bad[0]}`, which was not run ({refused[bad[0]]})"
    keep = sorted([found[n] for n in wanted if n not in refused] + imports, key=lambda t: t[:2])
    chunks: dict[int, dict] = {}
    for index, _, stmt in keep:
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        chunks.setdefault(index, {"cell": index, "source": sources[index], "lines": []})["lines"].append(
            [first, stmt.end_lineno])
    return list(chunks.values()), refused


def _reachable(name: str, found: dict) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in found:
            continue
        seen.add(n)
        todo += list(_names(found[n][2]))
    return seen - {name}


def tracer(assignment: str):
    """The practical's ``retrace.py`` (``STRUCTURES``, ``JUDGED``, ``given``, ``given_objects``, ``trace``), or None."""
    import importlib

    from autograder import practicals

    try:
        practical = practicals.get(assignment)
    except LookupError:
        return None
    if not (practical.folder / "retrace.py").is_file():
        return None
    return importlib.import_module(practical.module("retrace"))


def structures(assignment: str) -> dict[str, dict[str, str]]:
    """question -> the structural artifacts (name -> file suffix) re-traced in a clean process."""
    module = tracer(assignment)
    return module.STRUCTURES if module else {}


# -- the grader's side: running the clean process under limits ---------------------------------------

def _run_child(assignment: str, jobs: list[dict], given: dict, *, sandboxed: bool, cpu_s: float,
               memory_mb: float) -> dict:
    """Run the clean process on ``jobs``; its result ({question: {"artifacts", "errors"}}) or {"failed": reason}."""
    import psutil

    from autograder.engine import sandbox
    from autograder.engine.limits import CpuClock, kill_tree, process_tree, rss_mb, wall_backstop

    job = Path(tempfile.mkdtemp(prefix="ag-retrace-"))
    (job / "owner.pid").write_text(str(os.getpid()))   # a grader killed now leaves it: batch.clean_stale_jobs
    work, runtime = job / "work", job / "runtime"
    work.mkdir()
    runtime.mkdir()
    nonce = secrets.token_hex(16)
    spec = work / "spec.json"
    np.savez(work / "given.npz", **{k: np.asarray(v) for k, v in given.items()})
    spec.write_text(json.dumps({"assignment": assignment, "nonce": nonce, "jobs": jobs, "cpu_s": cpu_s,
                                "given": str(work / "given.npz")}))
    argv = [sys.executable, "-m", "autograder.engine.retrace", "-f", str(spec)]
    user = None
    if sandboxed:
        user = sandbox.claim_user()
        argv = sandbox.kernel_command(argv, work=work, runtime=runtime, data_binds={},
                                      limits=sandbox.Limits(cpu_s=int(cpu_s) + 5, uid=user.uid, fsize_mb=MAX_RESULT_MB * 2),
                                      device="cpu")
        sandbox.prepare(job, work, runtime, uid=user.uid)
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
           "HOME": str(work), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "TF_ENABLE_ONEDNN_OPTS": "0",
           "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    for key in ("PYTHONPATH",):
        if key in os.environ:
            env[key] = os.environ[key]
    out_path = job / "result.txt"   # the grader's, outside the view of the sandboxed process
    failed = None
    try:
        with open(out_path, "wb") as out, open(job / "stderr.txt", "wb") as err:
            proc = subprocess.Popen(argv, cwd=work, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            watched, clock, t0 = psutil.Process(proc.pid), CpuClock(), time.monotonic()
            clock.start()
            wall = wall_backstop(cpu_s)
            while proc.poll() is None:
                procs = process_tree(watched)
                cpu = clock.update(procs)
                if cpu > cpu_s:
                    failed = f"re-tracing took more than {cpu_s:.0f} s of CPU time (an endless loop while tracing?)"
                elif time.monotonic() - t0 > wall:
                    failed = f"re-tracing took more than {wall:.0f} s (an endless loop or a wait while tracing?)"
                elif rss_mb(procs) > memory_mb:
                    failed = f"re-tracing used more than {memory_mb:.0f} MB of memory"
                if failed:
                    kill_tree(process_tree(watched))
                    proc.wait()
                    break
                time.sleep(0.1)
        if failed:
            return {"failed": failed}
        if out_path.stat().st_size > MAX_RESULT_MB * 2**20:
            return {"failed": f"re-tracing wrote more than {MAX_RESULT_MB} MB"}
        marker = nonce.encode() + b" "
        for line in reversed(out_path.read_bytes().splitlines()):
            if line.startswith(marker):
                return json.loads(line[len(marker):])
        if proc.returncode and proc.returncode < 0:
            return {"failed": f"the re-tracing process was killed (signal {-proc.returncode}: a CPU-time limit?)"}
        tail = (job / "stderr.txt").read_bytes()[-2000:].decode(errors="replace").strip().splitlines()
        return {"failed": f"the re-tracing process stopped (exit code {proc.returncode})"
                          + (f": {tail[-1][:200]}" if tail else "")}
    finally:
        if user is not None:
            user.release()
        shutil.rmtree(job, ignore_errors=True)


def _run_twin(folder: Path, assignment: str, jobs: list[dict], given: dict, *, cpu_s: float,
              alive=lambda: True) -> tuple[dict | None, str]:
    """Ask the kernel's twin (engine/twin.py) of the job ``folder``: (its result, "") or (None, why not).

    The pipes were opened by the sandbox's launcher; a twin that is gone, silent past the wall-clock limit, or
    that answers without the nonce gives None, and the caller re-traces in a fresh process instead.
    """
    try:
        return _ask_twin(folder, assignment, jobs, given, cpu_s=cpu_s, alive=alive)
    finally:
        (folder / "twin-done").touch()   # the execution worker may now shut the kernel (and its twin) down


def _ask_twin(folder: Path, assignment: str, jobs: list[dict], given: dict, *, cpu_s: float,
              alive) -> tuple[dict | None, str]:
    import errno
    import io
    import select

    from autograder.engine import twin
    from autograder.engine.limits import wall_backstop

    deadline = time.monotonic() + wall_backstop(cpu_s)
    nonce = secrets.token_hex(16)
    npz = io.BytesIO()
    np.savez(npz, **{k: np.asarray(v) for k, v in given.items()})
    spec = json.dumps({"assignment": assignment, "nonce": nonce, "jobs": jobs, "cpu_s": cpu_s}).encode()
    pending = memoryview(twin.HEADER.pack(len(spec)) + spec + twin.HEADER.pack(npz.tell()) + npz.getvalue())
    inp = out = None
    try:
        # the sandbox's launcher holds both pipes (twin-out first) from before the kernel starts: the spec waits
        # in the pipe while the kernel imports TensorFlow and forks the twin, which then traces beside the
        # kernel's start-up
        while inp is None:
            try:
                inp = os.open(folder / "twin-in", os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:   # ENXIO: not opened yet
                    return None, f"no twin ({e.strerror})"
                if time.monotonic() > deadline or not alive():
                    return None, "the kernel did not start"
                time.sleep(0.02)
        out = os.open(folder / "twin-out", os.O_RDONLY | os.O_NONBLOCK)
        data = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "the twin did not answer in time"
            readable, writable, _ = select.select([out], [inp] if inp is not None else [], [], min(left, 1.0))
            if writable:
                pending = pending[os.write(inp, pending[:1 << 16]):]
                if not pending:
                    os.close(inp)
                    inp = None
            if readable:
                chunk = os.read(out, 1 << 20)
                if not chunk:
                    return None, "the twin stopped before answering"
                data += chunk
                if len(data) > MAX_RESULT_MB * 2**20:
                    return {"failed": f"re-tracing wrote more than {MAX_RESULT_MB} MB"}, ""
                if len(data) >= twin.HEADER.size and len(data) >= twin.HEADER.size + twin.HEADER.unpack(
                        bytes(data[:twin.HEADER.size]))[0]:
                    break
        line = bytes(data[twin.HEADER.size:]).rstrip(b"\n")
        marker = nonce.encode() + b" "
        if not line.startswith(marker):
            return None, "the twin's answer lacked its nonce"
        return json.loads(line[len(marker):]), ""
    finally:
        for fd in (inp, out):
            if fd is not None:
                os.close(fd)


def _jobs(assignment: str, nb, questions: dict[str, bool]) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """The clean process's jobs for ``questions`` (question -> take every cell, e.g. a final snapshot), and the
    errors known before running anything (refused definitions)."""
    jobs, known = [], {}
    for q, all_cells in questions.items():
        before = None if all_cells else _check_cell_index(nb, q)
        chunks, refused = definitions(nb, tracer(assignment).JUDGED[q], before)
        known[q] = {f"`{name}`": why for name, why in refused.items()}
        jobs.append({"question": q, "chunks": chunks, "refused": refused})
    return jobs, known


def _outcome(assignment: str, nb, questions: dict[str, bool], *, sandboxed: bool, cpu_s: float = CPU_S,
             memory_mb: float = MEMORY_MB, job=None, how: dict | None = None
             ) -> dict[str, tuple[dict[str, bytes], dict[str, str]]]:
    """question -> (files: name+suffix -> bytes, errors: name -> reason), for the structural artifacts.

    ``job``: a started kernel (kernels.Job) whose twin traces, if it has one; ``how`` gets how it was done."""
    jobs, _ = _jobs(assignment, nb, questions)
    given = tracer(assignment).given()
    result, why = None, "no twin"
    if job is not None and getattr(job, "twin", False):
        try:
            result, why = _run_twin(job.folder, assignment, jobs, given, cpu_s=cpu_s,
                                    alive=lambda: job.proc.poll() is None)
        except (OSError, ValueError) as e:   # a pipe that broke, an answer that does not parse: a fresh process
            result, why = None, f"the twin's answer was unusable ({type(e).__name__})"
    if how is not None:
        how["retrace"] = "twin" if result is not None else f"process ({why})"
    if result is None:
        result = _run_child(assignment, jobs, given, sandboxed=sandboxed, cpu_s=cpu_s, memory_mb=memory_mb)
    outcome = {}
    for q in questions:
        table = structures(assignment)[q]
        files, errors = {}, {}
        got = result.get(q) if isinstance(result.get(q), dict) else {}
        arts = got.get("artifacts") if isinstance(got.get("artifacts"), dict) else {}
        errs = got.get("errors") if isinstance(got.get("errors"), dict) else {}
        for name, suffix in table.items():
            if "failed" in result:
                errors[name] = str(result["failed"])
                continue
            art = arts.get(name)
            try:
                if isinstance(art, dict) and suffix == ".pb" and art.get("kind") == "pb":
                    files[name + suffix] = base64.b64decode(art["data"], validate=True)
                elif isinstance(art, dict) and suffix == ".json" and art.get("kind") == "json":
                    files[name + suffix] = json.dumps(art["value"], allow_nan=True).encode()
                else:
                    errors[name] = str(errs.get(name, "the clean re-trace produced nothing"))[:400]
            except Exception as e:
                errors[name] = f"the clean re-trace produced an unreadable answer ({type(e).__name__})"
        outcome[q] = (files, errors)
    return outcome


def _write(folder: Path, files: dict[str, bytes], errors: dict[str, str], names: dict[str, str]) -> None:
    """Replace the artifacts ``names`` in ``folder`` by ``files`` / ``errors`` (kernel-side versions removed)."""
    from autograder.engine.in_kernel import ERRORS_FILE

    folder.mkdir(parents=True, exist_ok=True)
    for name, suffix in names.items():
        path = folder / (name + suffix)
        if path.exists() or path.is_symlink():
            path.unlink()
        if name + suffix in files:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(files[name + suffix])
    err_path = folder / ERRORS_FILE
    try:
        old = json.loads(err_path.read_text()) if err_path.is_file() else {}
        old = old if isinstance(old, dict) else {}
    except (ValueError, OSError):
        old = {}
    old = {k: v for k, v in old.items() if k not in names}
    old.update(errors)
    if err_path.exists() or err_path.is_symlink():
        err_path.unlink()
    err_path.write_text(json.dumps(old))


def retrace(assignment_name: str, notebook, out_dir, *, sandboxed: bool, cpu_s: float = CPU_S,
            memory_mb: float = MEMORY_MB) -> dict[str, str]:
    """Re-trace every structural artifact of ``assignment_name`` from ``notebook`` (normalised) into ``out_dir``.

    Each question uses the definitions that stand before its check cell. Returns {artifact: reason} for the
    artifacts that could not be produced (no file is written for them; they are also in ``_errors.json``).
    """
    if not structures(assignment_name):
        return {}
    questions = {q: False for q in structures(assignment_name)}
    errors = {}
    for q, (files, errs) in _outcome(assignment_name, notebook, questions, sandboxed=sandboxed, cpu_s=cpu_s,
                                     memory_mb=memory_mb).items():
        _write(Path(out_dir), files, errs, structures(assignment_name)[q])
        errors.update(errs)
    return errors


def replace_structures(assignment, nb, snapshots: dict, sandboxed: bool, *, cpu_s: float = CPU_S,
                       memory_mb: float = MEMORY_MB) -> list[str]:
    """After the kernel run: overwrite the structural artifacts of ``snapshots`` (question -> grader-owned
    folder) with those re-traced in a clean process. Returns notes for the result (empty when all went well).

    ``assignment``: an ``Practical`` or its name. A snapshot taken by the final export cell (folder ``_final``)
    uses every cell; one taken at its check cell, the cells before it.
    """
    name = getattr(assignment, "name", assignment)
    questions = {q: Path(snapshots[q]).name == FINAL for q in structures(name) if q in snapshots}
    if not questions:
        return []
    return _replace(name, _outcome(name, nb, questions, sandboxed=sandboxed, cpu_s=cpu_s, memory_mb=memory_mb),
                    snapshots)


def _replace(name: str, outcome: dict, snapshots: dict) -> list[str]:
    """Write each re-traced question's files into its snapshot folder; a note per question that lacks some."""
    notes = []
    for q, (files, errors) in outcome.items():
        if q not in snapshots:
            continue
        _write(Path(snapshots[q]), files, errors, structures(name)[q])
        if errors:
            first = next(iter(errors.values()))
            notes.append(f"{q}: graph structure re-traced in a clean process; not produced: "
                         f"{', '.join(sorted(errors))} ({first})")
    return notes


class Retracer:
    """A re-trace started with the submission's kernel: it depends only on the notebook, so it runs while the
    kernel does, in the kernel's twin when it has one (engine/twin.py), else in a fresh process.

    It assumes each question is snapshot at its check cell; ``apply`` redoes, after the kernel, any question
    whose snapshot came from the final export cell instead (it then takes every cell).
    """

    def __init__(self, assignment, nb, sandboxed: bool):
        self.name = getattr(assignment, "name", assignment)
        self.nb, self.sandboxed = nb, sandboxed
        self.table = structures(self.name)
        self.outcome: dict = {}
        self.how: dict = {}
        self.thread = None

    def start(self, job=None) -> None:
        """Begin (once), with the kernel ``job`` about to run the submission (None: no kernel to pair with)."""
        import threading

        if self.thread is not None or not self.table:
            return
        if job is not None and getattr(job, "twin", False):
            (job.folder / "twin-wanted").touch()   # before the kernel runs: it waits for the twin's answer
        questions = {q: False for q in self.table}
        self.thread = threading.Thread(target=self._run, args=(questions, job), daemon=True)
        self.thread.start()

    def _run(self, questions, job) -> None:
        try:
            self.outcome = _outcome(self.name, self.nb, questions, sandboxed=self.sandboxed, job=job, how=self.how)
        except Exception as e:  # the grader's own failure: every structure of these questions is missing
            self.outcome = {q: ({}, {n: f"the clean re-trace failed: {type(e).__name__}: {str(e)[:200]}"
                                     for n in self.table[q]}) for q in questions}

    def apply(self, snapshots: dict) -> list[str]:
        """Wait for the re-trace and overwrite the structural artifacts of ``snapshots``; return notes."""
        if not self.table:
            return []
        self.start()
        self.thread.join()
        final = {q: True for q in self.table if q in snapshots and Path(snapshots[q]).name == FINAL}
        outcome = dict(self.outcome)
        if final:
            outcome.update(_outcome(self.name, self.nb, final, sandboxed=self.sandboxed))
        return _replace(self.name, outcome, snapshots)


# -- the clean process -------------------------------------------------------------------------------

def _child(spec_path: str) -> None:
    """Run the kept definitions of each job in a fresh namespace and trace them; print the result at the end."""
    import io

    with open(spec_path) as f:
        spec = json.load(f)
    given = dict(np.load(spec["given"], allow_pickle=False))
    for p in (spec_path, spec["given"]):
        try:
            os.unlink(p)   # the nonce and the paths are gone before any student code runs
        except OSError:
            pass
    out = io.open(os.dup(1), "w", closefd=True)
    os.dup2(2, 1)   # what student code prints goes to stderr
    sys.modules.setdefault("sklearn", None)   # no trace uses it (Keras loads it for its wrappers alone)
    from autograder.engine.in_kernel import import_tensorflow

    import_tensorflow(leave_out=("keras",))   # `tf.keras` still loads Keras on first use, in student code too
    out.write(_trace_jobs(spec, given))
    out.flush()
    os._exit(0)   # nothing the student left behind runs after the result


def serve_twin(fd_in: int, fd_out: int) -> None:
    """(The kernel's twin, engine/twin.py) read the grader's spec and data from its pipe, trace, answer."""
    import io
    import resource

    from autograder.engine import twin

    spec = json.loads(twin.read_message(fd_in, MAX_RESULT_MB * 2**20))
    given = dict(np.load(io.BytesIO(twin.read_message(fd_in, MAX_RESULT_MB * 2**20)), allow_pickle=False))
    os.close(fd_in)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cpu = int(spec.get("cpu_s", CPU_S)) + int(time.process_time()) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu if hard == resource.RLIM_INFINITY else min(cpu, hard), hard))
    sys.modules.setdefault("sklearn", None)
    twin.write_message(fd_out, _trace_jobs(spec, given).encode())


def _trace_jobs(spec: dict, given: dict) -> str:
    """Run each job's kept definitions in a fresh namespace and trace them: the result line (nonce, JSON)."""
    import linecache
    import math

    nonce = spec.pop("nonce")
    practical = tracer(spec["assignment"])   # imported before any student code runs
    tf = sys.modules["tensorflow"]
    refs = _References(tf)
    modules = {"numpy": np, "tensorflow": tf, "math": math}

    def safe_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name in modules and not fromlist:
            return modules[name]
        raise ImportError(f"import of {name!r} is not allowed here")

    import builtins

    safe = {k: getattr(builtins, k) for k in SAFE_BUILTINS if hasattr(builtins, k)}
    safe["__import__"] = safe_import
    from autograder.engine.in_kernel import describe

    result = {}
    for job in spec["jobs"]:
        q = job["question"]
        ns = {"__name__": "__student__", "__builtins__": safe, "np": np, "tf": tf}
        for k, v in given.items():
            ns[k] = (v.item() if k in ("N", "D") else v[()]) if v.ndim == 0 else v
        errors, arts = {}, {}
        try:
            practical.given_objects(ns, tf)
            for chunk in job["chunks"]:
                filename = f"<cell-{chunk['cell']}>"
                source = chunk["source"]
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                tree = ast.parse(source, filename)
                keep = [s for s in tree.body if any(
                    a <= s.lineno <= b for a, b in chunk["lines"])]
                exec(compile(ast.Module(body=keep, type_ignores=[]), filename, "exec"), ns)
            for name, why in job["refused"].items():
                ns.pop(name, None)
                ns.setdefault("__refused__", {})[name] = why
            practical.trace(q, ns, refs, arts, errors, describe, _get)
        except Exception as e:   # the definitions themselves failed: every artifact of the question says why
            for name in practical.STRUCTURES[q]:
                errors.setdefault(name, "running the definitions in a clean process failed: " + describe(e))
        result[q] = {"artifacts": arts, "errors": errors}
    return nonce + " " + json.dumps(result, allow_nan=True) + "\n"


class _References:
    """TensorFlow's tracing and serialising methods, taken before any student code runs."""

    def __init__(self, tf):
        self.Function = type(tf.function(lambda: None))
        self.get_concrete_function = self.Function.get_concrete_function
        self.input_signature = self.Function.input_signature.fget
        self.python_function = self.Function.python_function.fget
        self.as_graph_def = tf.Graph.as_graph_def
        self.serialize = tf.compat.v1.GraphDef.SerializeToString
        self.function = tf.function
        self.TensorSpec = tf.TensorSpec
        self.float32 = tf.float32
        from autograder.engine.in_kernel import bounded_trace

        self.bounded = bounded_trace

    def graph_bytes(self, concrete) -> str:
        return base64.b64encode(self.serialize(self.as_graph_def(concrete.graph))).decode()

    def concrete(self, fn, *specs):
        """As the exporter's ``_concrete``: its own input signature if it has one, else ``specs``."""
        if isinstance(fn, self.Function):
            if self.input_signature(fn) is not None:
                return self.bounded(lambda: self.get_concrete_function(fn))
            return self.bounded(lambda: self.get_concrete_function(fn, *specs))
        raise TypeError(f"expected a tf.function (decorated with @tf.function), got {type(fn).__name__}")

    def retraced(self, fn, *specs):
        """As the exporter's ``_retrace``: the Python function traced again for fixed shapes."""
        python_fn = self.python_function(fn) if isinstance(fn, self.Function) else fn
        return self.bounded(lambda: self.get_concrete_function(self.function(python_fn), *specs))

    def fresh(self, fn):
        """As the exporter's ``_fresh``: a new tf.function around the Python function (traced again)."""
        if not isinstance(fn, self.Function):
            if not callable(fn):
                raise TypeError(f"expected a function, got {type(fn).__name__}")
            return fn
        return self.function(self.python_function(fn), input_signature=self.input_signature(fn))


def _get(ns: dict, name: str):
    why = ns.get("__refused__", {}).get(name)
    if why:
        raise Refused(f"`{name}` was not traced: its definition does something a graph function does not need "
                      f"({why})")
    if name not in ns:
        raise NameError(f"`{name}` is not defined by a top-level `def` in the answer cells")
    return ns[name]


import numpy as np  # noqa: E402  (after the constants: the module is also the clean process's entry point)

if __name__ == "__main__":
    args = sys.argv[1:]
    _child(args[args.index("-f") + 1])
