"""The grading engine on submissions that never reach the checks: each still gets one result with a reason."""

import dataclasses
import json
import os
import tempfile
import time

import nbformat
import numpy as np
import pytest

from autograder import practicals
from autograder.engine.check_runner import list_checks
from autograder.grade import grade_notebook
from autograder.paths import REPO
from autograder.report.store import write_named as write_json
from autograder.selfcheck import check


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_invalid_json_is_an_invalid_result(tmp_path):
    path = tmp_path / "02-graphs.ipynb"
    path.write_text('{"cells": [')
    result = grade_notebook(path)
    assert result.status == "invalid"
    assert "not a valid notebook" in result.reason and result.score == 0


def test_unknown_assignment_is_an_invalid_result(tmp_path):
    result = grade_notebook(notebook(tmp_path / "homework.ipynb", "x = 1"))
    assert result.status == "invalid"
    assert "not a notebook of a known assignment" in result.reason


def test_infinite_loop_times_out_with_every_check_at_zero(tmp_path):
    # below 02's CPU time per cell (10 s), which is then not set: the notebook's limit stops the loop
    result = grade_notebook(notebook(tmp_path / "02-graphs.ipynb", "while True:\n    pass"), timeout_s=8)
    assert result.status == "timeout"
    assert "more than 8 s of CPU time" in result.reason
    assert result.score == 0 and result.max_score == 20
    assert {c.status for c in result.checks} == {"error"}


@pytest.mark.parametrize("code, why", [
    ("while True:  # a loop that never ends\n    pass", "it used more than 4 s of CPU time"),
    ("import time\ntime.sleep(600)  # waits without computing", "it ran longer than 27 s (wall clock)"),
], ids=["computes", "waits"])
def test_a_runaway_cell_is_interrupted_and_the_rest_of_the_notebook_still_graded(tmp_path, monkeypatch, code, why):
    # as nbgrader's cell timeout: one cell over the practical's CPU time per cell (or its wall-clock backstop,
    # 3 x 4 + 15 s) is stopped, the next cells run
    monkeypatch.setitem(practicals.REGISTRY, "01-sklearn",
                        dataclasses.replace(practicals.get("01-sklearn"), cell_cpu_s=4))
    nb = nbformat.read(practicals.get("01-sklearn").solution_notebook(), as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(code))
    path = tmp_path / "01-sklearn.ipynb"
    nbformat.write(nb, path)
    result = grade_notebook(path)
    assert result.status == "graded" and result.score == result.max_score, result.notes
    assert f"cell 4 was stopped: {why}" in " ".join(result.notes)
    assert not any("KeyboardInterrupt" in n for n in result.notes)
    assert result.timings["slowest_cell_cpu_s"] < 10


def test_memory_bomb_is_stopped(tmp_path):
    bomb = "chunks = []\nwhile True:\n    chunks.append(b'x' * 2**24)"
    result = grade_notebook(notebook(tmp_path / "02-graphs.ipynb", bomb), memory_mb=1500)
    assert result.status == "memory"
    assert "more than 1500 MB" in result.reason
    assert result.environment["peak_rss_mb"] >= 1500


def test_kernel_that_exits_gets_an_error_result(tmp_path):
    result = grade_notebook(notebook(tmp_path / "02-graphs.ipynb", "import os\nos._exit(0)"))
    assert result.status == "error"
    assert "kernel died" in result.reason
    assert result.score == 0 and len(result.checks) == len(list_checks("autograder.practicals.p02_graphs.checks"))


def test_json_result_has_the_documented_keys(tmp_path, graded_key):
    path = write_json(graded_key("02-graphs"), tmp_path)
    data = json.loads(path.read_text())
    for key in ("assignment", "submission", "score", "max_score", "status", "checks", "environment"):
        assert key in data
    assert set(data["checks"][0]) >= {"name", "points", "max_points", "status", "message"}
    assert data["environment"]["versions"]["keras"]
    assert data["environment"]["device"] == "cpu"


@pytest.mark.parametrize("name", [a for a in practicals.REGISTRY
                                  if (REPO / "source" / a / f"{a}.ipynb").exists()])
def test_grade_cells_carry_the_points_of_their_checks(name):
    """nbgrader's points per grade cell equal the kit's checks (public and hidden) of that question."""
    nb = nbformat.read(REPO / "source" / name / f"{name}.ipynb", as_version=4)
    cells = {c.source.strip(): c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    checks = list_checks(practicals.get(name).checks_module)
    questions = sorted({c.question for c in checks})
    assert sorted(cells) == [f'check("{q}")' for q in questions]
    for q in questions:
        meta = cells[f'check("{q}")']
        assert meta["grade_id"] == q.replace(".", "_")
        assert meta["points"] == sum(c.max_points for c in checks if c.question == q), q


def test_selfcheck_runs_the_public_checks_on_live_objects(capsys):
    x = np.random.default_rng(2017).normal(size=(1000, 10)).astype(np.float32)
    from autograder.practicals.p02_graphs.checks import public_data

    x, _, w, b = public_data()
    assert check("02.numpy", {"ypred_np": np.sum(w * x, axis=1) + b}) is None  # no `Out:` for nbgrader to warn on
    out = capsys.readouterr().out
    assert "✓ ypred_np_shape" in out and "1 hidden check(s)" in out and "✗" not in out
    assert check("02.numpy", {"ypred_np": np.sum(w * x, axis=1)}) is None
    assert "✗ ypred_np_values" in capsys.readouterr().out


def test_warm_kernel_gives_the_same_verdict_and_is_cleaned_up(tmp_path):
    import psutil

    from autograder.engine.kernels import KernelPool

    path = notebook(tmp_path / "02-graphs.ipynb", "def predict_np(x, w, b):\n    return np.sum(w * x, axis=1) + b")
    with KernelPool() as pool:
        cold = grade_notebook(path, pool=pool)
        warm = grade_notebook(path, pool=pool)
    assert (cold.timings["warm_kernel"], warm.timings["warm_kernel"]) == (False, True)
    assert [c.to_dict() for c in cold.checks] == [c.to_dict() for c in warm.checks]
    assert cold.score == warm.score == 3  # the three 02.numpy checks

    def kernels():
        found = []
        for p in psutil.Process().children(recursive=True):
            try:
                if "ipykernel" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except psutil.Error:
                pass
        return found

    deadline = time.monotonic() + 10
    while kernels() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kernels() == []


def test_selfcheck_raises_under_nbgrader_autograde(monkeypatch, capsys):
    from autograder.practicals.p02_graphs.checks import public_data

    x, _, w, b = public_data()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert check("02.numpy", {"ypred_np": np.sum(w * x, axis=1) + b}) is None
    assert "✗" not in capsys.readouterr().out
    with pytest.raises(AssertionError, match="02.numpy"):
        check("02.numpy", {"ypred_np": np.sum(w * x, axis=1)})


def test_gpu_memory_of_the_kernel_tree_is_read_from_nvidia_smi():
    from autograder.engine.limits import gpu_memory_mb

    listing = "4242, 1500\n4243, 700\n999, 30000\nnot a line\n"
    assert gpu_memory_mb([4242, 4243, 7], query=listing) == 2200
    assert gpu_memory_mb([7], query=listing) == 0


def test_a_kernel_whose_grader_was_killed_goes_away(tmp_path):
    """A kernel outlives nothing: when the grading process is killed (kill -9, a lost cluster worker) in the
    middle of a notebook, the execution worker takes its kernel down and exits at once."""
    import signal
    import subprocess
    import sys

    import psutil

    from autograder.engine import zygote
    from autograder.engine.limits import process_tree

    script = ("import nbformat\nfrom autograder import practicals\nfrom autograder.engine.execute import execute\n"
              "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import time\\ntime.sleep(600)')])\n"
              "execute(nb, practicals.get('01-sklearn'), None, timeout_s=300)\n")
    grader = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    tree, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline:   # until the notebook's cell is running in the kernel
        tree = process_tree(psutil.Process(grader.pid))[1:]   # with a kernel forked by the factory (zygote.py)
        if any("ipykernel" in " ".join(p.cmdline()) or zygote.adopted(p.pid) for p in tree if p.is_running()):
            break
        time.sleep(0.2)
    time.sleep(3)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    gone, alive = psutil.wait_procs(tree, timeout=20)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline()[:3] for p in alive]


def test_a_worker_orphaned_before_it_started_goes_away(tmp_path):
    """A grader killed right after starting a kernel (before the worker has run a line) leaves nothing behind:
    the worker knows its grader from the job folder, not from a parent that is already gone."""
    import subprocess
    import sys

    import psutil

    script = ("import os\nfrom autograder import practicals\nfrom autograder.engine.kernels import start_job\n"
              "job = start_job(practicals.get('01-sklearn'), seed=0)\nprint(job.proc.pid, flush=True)\nos._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    worker = psutil.Process(int(out.stdout.split()[0]))
    tree = [worker, *worker.children(recursive=True)]
    gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline()[:3] for p in alive]


def test_the_preamble_imports_tensorflow_without_scikit_learn_yet_the_notebook_can_import_it():
    # Keras' scikit-learn wrappers would import it at start-up (1-2 s, 60 MB); a student's import still works
    import subprocess
    import sys

    from autograder.engine.assemble import preamble_source

    probe = (preamble_source(practicals.get("03-mlp"), 1234, "cpu") + "\n"
             "import sys\nprint('before', 'sklearn' in sys.modules)\n"
             "from sklearn.linear_model import LinearRegression\nimport tensorflow as tf\n"
             "print('after', LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0]).coef_[0].round(3), "
             "tf.keras.__name__.startswith('keras'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["before", "False", "after", "2.0", "True"], out.stdout


def test_a_notebook_without_keras_gets_tensorflow_without_it_seeded_as_keras_would():
    # 02 does not use Keras: its kernel skips Keras' import (1 s of CPU) yet draws what Keras' seeding gives
    import subprocess
    import sys

    from autograder.engine.assemble import preamble_source

    draws = ("import sys, random\nimport numpy as np\nimport tensorflow as tf\n"
             "print('keras' in sys.modules, random.random(), np.random.rand(), float(tf.random.uniform([])))\n"
             "import keras\nprint(keras.ops.convert_to_numpy(keras.ops.ones(2)).sum())")
    seen = {}
    for name in ("02-graphs", "03-mlp"):
        assert practicals.get(name).keras is (name != "02-graphs")
        out = subprocess.run([sys.executable, "-c", preamble_source(practicals.get(name), 1234, "cpu") + "\n" + draws],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert out.returncode == 0, out.stderr[-2000:]
        seen[name] = out.stdout.split()
    assert seen["02-graphs"][0] == "False" and seen["03-mlp"][0] == "True"
    assert seen["02-graphs"][1:] == seen["03-mlp"][1:], seen   # the same draws, and Keras still imports


def test_the_preamble_turns_off_tf_data_autotuning_and_a_fit_learns_the_same():
    """tf.data's autotuning thread left 04's kernels idle up to 10 s per epoch (engine.in_kernel): the datasets
    Keras makes in a graded kernel run without it, and training gives the same numbers as with it."""
    import subprocess
    import sys

    from autograder.engine.assemble import preamble_source

    fit = ("import numpy as np, keras\n"
           "from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter\n"
           "x = np.random.default_rng(0).normal(size=(64, 4)).astype('float32'); y = (x.sum(axis=1) > 0) * 1\n"
           "print(ArrayDataAdapter(x, y, batch_size=8).get_tf_dataset().options().autotune.enabled)\n"
           "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation='relu'), keras.layers.Dense(2)])\n"
           "m.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
           "print(*m.fit(x, y, epochs=3, batch_size=8, verbose=0).history['loss'])")
    preamble = preamble_source(practicals.get("03-mlp"), 1234, "cpu")
    off = "_ag_turn_off_tf_data_autotune(_ag_tf)\n"
    assert off in preamble
    seen = []
    for source in (preamble, preamble.replace(off, "")):
        out = subprocess.run([sys.executable, "-c", source + "\n" + fit], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert out.returncode == 0, out.stderr[-2000:]
        seen.append(out.stdout.splitlines())
    assert seen[0][0] == "False" and seen[1][0] in ("True", "None"), seen
    assert seen[0][1] == seen[1][1], seen   # the same losses, to the last digit


def test_a_deep_temporary_folder_does_not_break_the_kernels_sockets(tmp_path, monkeypatch):
    # a unix socket's path must fit in 107 bytes: the sandboxed kernel's are relative to its folder
    deep = tmp_path / ("d" * 90) / ("e" * 40)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    result = grade_notebook(practicals.get("01-sklearn").solution_notebook())
    assert result.status == "graded" and result.score == result.max_score, result.reason


def test_the_sandbox_is_available_only_where_bubblewrap_can_make_its_namespaces(tmp_path, monkeypatch):
    from autograder.engine import sandbox
    from helpers import failing_bwrap

    ok, why = sandbox.available()
    if not ok and "not installed" in why:
        pytest.skip(why)
    assert ok, why   # here: bwrap makes them (the kit's own tests of isolation run)
    fake = failing_bwrap(tmp_path, "bwrap: Creating new namespace failed: Operation not permitted")
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    ok, why = sandbox.available()
    assert not ok and "bubblewrap cannot isolate a process on this host (bwrap: Creating new namespace failed: " \
                      "Operation not permitted)" in why


@pytest.mark.parametrize("parent_waits", [True, False])
def test_a_kernel_launcher_whose_worker_died_before_it_started_runs_nothing(tmp_path, parent_waits):
    """The execution worker starts the sandbox's launcher, which becomes bwrap (--die-with-parent): a worker
    killed in between (a batch killed while a kernel starts) must not leave the kernel running, parentless."""
    import subprocess
    import sys

    marker, conn = tmp_path / "ran", tmp_path / "kernel.json"
    conn.write_text("{}")
    launcher = [sys.executable, "-m", "autograder.engine.sandbox", "--nproc=256", "--nofile=256", "--fsize-mb=1",
                "--cpu-s=30", "--", "sh", "-c", f"sleep 2; touch {marker}", "-f", str(conn)]
    worker = ("import os, subprocess, sys\n"
              f"p = subprocess.Popen({launcher!r}, env=dict(os.environ, AUTOGRADER_LAUNCHER_PARENT=str(os.getpid())))\n"
              + ("p.wait()\n" if parent_waits else "os._exit(0)\n"))   # else gone before the launcher has started
    subprocess.run([sys.executable, "-c", worker], cwd=REPO, timeout=60, check=True)
    time.sleep(0 if parent_waits else 4)
    assert marker.exists() == parent_waits
