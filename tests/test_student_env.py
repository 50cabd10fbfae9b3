"""Students need only what they run: requirements-student.txt and the dl4img.py shipped beside a notebook.

The student environment here is a real virtual environment whose site-packages holds only the distributions
that the requirements file pulls in (links to the kit's installed copies): no grader, no nbgrader. A Jupyter
kernel started from it runs a practical's answer key, copied with the files the release ships beside it.
"""

from __future__ import annotations

import ast
import functools
import gzip
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import dl4img
from autograder import datasets, practicals
from autograder.paths import REPO
from autograder.release import ship_helpers
from autograder.studentkit import GRADER_DEPENDENCIES

REQUIREMENTS = REPO / "requirements-student.txt"
RUN = "05-pretrained"   # the answer key run in the student environment: it uses every helper of dl4img
GRADER_ONLY = {canonicalize_name(n) for n in (*GRADER_DEPENDENCIES, "nbgrader", "dl4img-autograder", "pytest")}


def student_requirements() -> list[Requirement]:
    lines = [ln.split("#")[0].strip() for ln in REQUIREMENTS.read_text().splitlines()]
    return [Requirement(ln) for ln in lines if ln]


def applies(req: Requirement, extras=("",)) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras)


def closure(reqs) -> dict[str, metadata.Distribution]:
    """Every installed distribution the requirements pull in on this platform, dependencies included."""
    found: dict[str, metadata.Distribution] = {}
    todo, seen = [r for r in reqs if applies(r)], set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = found.setdefault(key[0], metadata.distribution(req.name))
        todo += [r for r in map(Requirement, dist.requires or []) if applies(r, ("", *req.extras))]
    return found


def notebook_imports(nb) -> set[str]:
    """Top-level modules a notebook imports, except those inside ``try: ... except ImportError:``."""
    optional, imported = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse("\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                    for h in node.handlers):
                optional |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    return imported


@pytest.fixture(scope="module")
def student_python(tmp_path_factory) -> Path:
    """A venv holding only what requirements-student.txt installs: links to the kit's copies of those packages."""
    venv = tmp_path_factory.mktemp("student") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = venv.glob("lib/python3*/site-packages")
    for dist in closure(student_requirements()).values():
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            if not (site / top).exists():
                (site / top).symlink_to(dist.locate_file(top))
    return venv / "bin" / "python"


def test_requirements_pin_what_the_grader_runs_and_hold_no_grader():
    pins = {canonicalize_name(r.name): r for r in map(Requirement, tomllib.loads(
        (REPO / "pyproject.toml").read_text())["project"]["dependencies"])}
    reqs = student_requirements()
    for r in reqs:
        assert str(r) == str(pins[canonicalize_name(r.name)]), f"{r} differs from pyproject.toml's pin"
    assert not {canonicalize_name(r.name) for r in reqs} & GRADER_ONLY
    assert not set(closure(reqs)) & {canonicalize_name(n) for n in ("nbgrader", "dl4img-autograder", "dask")}


@functools.cache
def _owners() -> dict[str, list[str]]:
    return metadata.packages_distributions()   # module -> distributions that install it


@pytest.mark.parametrize("name", list(practicals.REGISTRY))
def test_every_import_of_a_release_notebook_is_a_student_requirement(name):
    nb = nbformat.read(practicals.get(name).release_notebook(REPO), as_version=4)
    direct = {canonicalize_name(r.name) for r in student_requirements() if applies(r)}
    owners = _owners()
    for module in notebook_imports(nb) - {"dl4img"} - set(sys.stdlib_module_names):
        assert {canonicalize_name(d) for d in owners.get(module, ())} & direct, \
            f"{name} imports {module}, which requirements-student.txt does not name"


def test_dl4img_imports_only_numpy_keras_and_the_standard_library():
    tree = ast.parse(Path(dl4img.__file__).read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert modules - set(sys.stdlib_module_names) == {"numpy", "keras"}
    assert Path(dl4img.__file__).resolve() == REPO / "dl4img.py"   # the kit grades with its own copy


def _write_idx(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + rng.integers(0, 10, n, dtype=np.uint8).tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())


def test_fashion_mnist_is_read_from_the_first_folder_that_has_it_else_downloaded(tmp_path, monkeypatch):
    import keras.src.utils.file_utils as file_utils

    def offline(url, *args, **kwargs):
        raise OSError(f"no network in this test ({url})")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    monkeypatch.setattr(dl4img, "DEBIAN_FASHION", str(tmp_path / "no-debian-package"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(dl4img.FASHION_ENV, raising=False)
    with pytest.raises(dl4img.DataNotFound, match="apt-get install dataset-fashion-mnist") as e:
        dl4img.load_fashion_mnist()
    assert isinstance(e.value, datasets.DataNotFound)   # one error class for notebooks and grader
    mine = tmp_path / "mine"
    mine.mkdir()
    _write_idx(mine, 7)
    monkeypatch.setenv(dl4img.FASHION_ENV, str(mine))
    x, y = dl4img.load_fashion_mnist("test")
    assert x.shape == (7, 28, 28) and y.shape == (7,) and x.dtype == np.uint8
    assert datasets.FASHION.source() == mine    # the grader's provider searches the same places


def test_the_release_ships_the_helpers_a_notebook_uses(tmp_path):
    uses = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from dl4img import fashion_base_path\nimport keras\nbase = keras.saving.load_model(fashion_base_path())")])
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy as np  # dl4img is not used")])
    for folder, nb in (("uses", uses), ("plain", plain)):
        (tmp_path / folder).mkdir()
        nbformat.write(nb, tmp_path / folder / "nb.ipynb")
        ship_helpers(tmp_path / folder / "nb.ipynb")
    assert sorted(p.name for p in (tmp_path / "uses").iterdir()) == ["dl4img.py", "fashion_base.keras", "nb.ipynb"]
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["nb.ipynb"]
    assert (tmp_path / "uses" / "dl4img.py").read_bytes() == Path(dl4img.__file__).read_bytes()


def test_the_student_environment_has_no_grader(student_python, tmp_path):
    probe = ("import importlib.util as u\n"
             "for m in ('autograder', 'nbgrader', 'dask', 'dl4img', 'numpy', 'sklearn', 'skimage', 'matplotlib', "
             "'tensorflow', 'keras', 'ipykernel'):\n"
             "    print(m, bool(u.find_spec(m)))\n")
    proc = subprocess.run([str(student_python), "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, check=True)
    found = dict(line.split() for line in proc.stdout.splitlines())
    assert found == {"autograder": "False", "nbgrader": "False", "dask": "False", "dl4img": "False",   # grader
                     "numpy": "True", "sklearn": "True", "skimage": "True", "matplotlib": "True",
                     "tensorflow": "True", "keras": "True", "ipykernel": "True"}


def test_a_sandboxed_kernel_imports_the_kits_own_dl4img(tmp_path):
    """Graded notebooks import dl4img too: the sandbox shows the kernel the kit's copy, which finds the kit's network."""
    from autograder.engine import sandbox

    ok, why = sandbox.available()
    if not ok:
        pytest.skip(why)
    work, runtime = tmp_path / "work", tmp_path / "runtime"
    work.mkdir(), runtime.mkdir()
    (runtime / "connection").touch()
    code = "import dl4img; print(dl4img.__file__); print(dl4img.fashion_base_path())"
    argv = sandbox.kernel_command([sys.executable, "-c", code, "-f", str(runtime / "connection")], work=work,
                                  runtime=runtime, data_binds={}, limits=sandbox.Limits())
    sandbox.prepare(tmp_path, work, runtime)
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(REPO / "dl4img.py"), str(REPO / "autograder" / "models" / "fashion_base.keras")]


@pytest.mark.slow
def test_an_answer_key_runs_to_the_end_in_the_student_environment(student_python, tmp_path, monkeypatch):
    """The key, with only the files its release folder ships beside it, in a kernel of the student environment."""
    folder = tmp_path / RUN
    shutil.copytree(REPO / "solutions" / RUN, folder)
    assert (folder / "dl4img.py").is_file(), f"solutions/{RUN} ships no dl4img.py: does its notebook import dl4img?"
    spec = tmp_path / "jupyter" / "kernels" / "student"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "student", '
        '"language": "python"}' % student_python)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{student_python.parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_HOME": str(home / ".keras"),
           # offline: Debian's package, or wherever the grader found Fashion-MNIST
           dl4img.FASHION_ENV: str(datasets.FASHION.source())}
    nb = nbformat.read(folder / f"{RUN}.ipynb", as_version=4)
    NotebookClient(nb, kernel_name="student", timeout=120, resources={"metadata": {"path": str(folder)}}).execute(env=env)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("check(")]
    assert checks
    for c in checks:   # without the grader, each check cell says so rather than failing
        question = c.source.split('"')[1]
        assert question in "".join(o.get("text", "") for o in c.outputs), c.outputs
