"""The registry of practicals: each is one folder, found by its ``practical.toml``.

A practical's folder (``autograder/practicals/<package>/``, or ``<course>/practicals/<package>/`` for a course's
own) holds its declaration ``practical.toml``, ``in_kernel.py`` (runs in the student's kernel: exports the
answers), ``checks.py`` (pytest checks on the exported files), ``thresholds.json`` (written by
``autograder calibrate``) and ``mutants.py`` (wrong answers the checks must catch). Its notebook is
``source/<name>/<name>.ipynb``.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograder.paths import course_dir

DECLARATION = "practical.toml"


@dataclass(frozen=True)
class Practical:
    name: str                 # e.g. "02-graphs": the notebook's name and the grades' column
    package: str              # the folder's name, importable as autograder.practicals.<package>
    folder: Path
    tensorflow: bool = True   # the grader seeds TF and enables op determinism only where it is used
    keras: bool = True        # the notebook uses Keras: the grader seeds it (else TensorFlow imports without it)
    timeout_s: int = 300      # CPU seconds for the whole notebook
    memory_mb: int = 4096     # resident memory of the kernel and its children
    cell_cpu_s: int = 60      # CPU seconds for one student cell: over it, the cell is interrupted (as in nbgrader)
    datasets: tuple[str, ...] = ()  # names of autograder.datasets providers, bound read-only into the kernel
    grade_s: float = 10       # seconds a batch worker takes to grade the answer key (batch.queue_order)

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    def module(self, part: str) -> str:
        """Dotted name of one of its modules: "in_kernel", "checks", "mutants"."""
        return f"{__name__}.{self.package}.{part}"

    @property
    def in_kernel_module(self) -> str:
        return self.module("in_kernel")

    @property
    def checks_module(self) -> str:
        return self.module("checks")

    @property
    def thresholds(self) -> Path:
        return self.folder / "thresholds.json"

    def release_notebook(self, root=None) -> Path:
        return course_dir(root) / "release" / self.name / self.notebook

    def solution_notebook(self, root=None) -> Path:
        return course_dir(root) / "solutions" / self.name / self.notebook


def _read(folder: Path) -> Practical:
    declared = tomllib.loads((folder / DECLARATION).read_text())
    unknown = set(declared) - {"name", "tensorflow", "keras", "timeout_s", "memory_mb", "cell_cpu_s", "datasets",
                            "grade_s"}
    if unknown:
        raise ValueError(f"{folder / DECLARATION}: unknown keys {sorted(unknown)}")
    declared["datasets"] = tuple(declared.get("datasets", ()))
    return Practical(package=folder.name, folder=folder, **declared)


def _discover() -> dict[str, Practical]:
    # A course's own practicals join the package's search path, so they import like the kit's.
    extra = course_dir() / "practicals"
    if extra.is_dir() and str(extra) not in __path__:
        __path__.append(str(extra))
    found = [_read(Path(p) / d.name) for p in __path__ for d in sorted(Path(p).iterdir())
             if (d / DECLARATION).is_file()]
    return {p.name: p for p in sorted(found, key=lambda p: p.name)}


REGISTRY: dict[str, Practical] = _discover()


def use_course(root) -> None:
    """Grade the course at ``root`` (``--root``): its own practicals join the registry, here and in every process
    started from here (they read AUTOGRADER_COURSE)."""
    os.environ["AUTOGRADER_COURSE"] = str(Path(root).resolve())
    REGISTRY.clear()
    REGISTRY.update(_discover())


class UnknownAssignment(LookupError):
    pass


def get(name: str) -> Practical:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownAssignment(f"unknown assignment {name!r}; known: {', '.join(REGISTRY)}") from None


def recognise(path: Path, nb: dict | None = None) -> Practical:
    """The assignment of a submitted notebook: from its file name, else its parent folder, else metadata."""
    candidates = [path.stem, path.parent.name]
    if nb is not None:
        meta = nb.get("metadata", {}).get("autograder", {})
        if isinstance(meta, dict) and isinstance(meta.get("assignment"), str):
            candidates.append(meta["assignment"])
    for c in candidates:
        if c in REGISTRY:
            return REGISTRY[c]
    named = [a for name, a in REGISTRY.items() if name in path.stem]  # e.g. alice_02-graphs.ipynb
    if len(named) == 1:
        return named[0]
    raise UnknownAssignment(f"{path.name}: not a notebook of a known assignment ({', '.join(REGISTRY)})")


def read_notebook_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
