"""The registry of practicals the kit grades: which export and checks modules, and the limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autograder.paths import course_dir


@dataclass(frozen=True)
class Assignment:
    name: str
    module: str               # suffix shared by autograder.export.<module> and autograder.checks.<module>
    uses_tensorflow: bool     # the grader seeds TF and enables op determinism only where it is used
    timeout_s: int = 300      # wall clock for the whole notebook
    memory_mb: int = 4096     # resident memory of the kernel and its children
    fashion_mnist: bool = False  # the kernel's Keras cache gets the training files
    imagenet: bool = False       # ...and the grader's ImageNet weights of InceptionV3, when it has them

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def export_module(self) -> str:
        return f"autograder.export.{self.module}"

    @property
    def checks_module(self) -> str:
        return f"autograder.checks.{self.module}"

    def release_notebook(self, root=None) -> Path:
        return course_dir(root) / "release" / self.name / self.notebook

    def solution_notebook(self, root=None) -> Path:
        return course_dir(root) / "solutions" / self.name / self.notebook


REGISTRY: dict[str, Assignment] = {
    a.name: a
    for a in [
        Assignment("01-sklearn", "p01_sklearn", uses_tensorflow=False),
        Assignment("02-graphs", "p02_graphs", uses_tensorflow=True),
        Assignment("03-mlp", "p03_mlp", uses_tensorflow=True, fashion_mnist=True),
        Assignment("04-convnet", "p04_convnet", uses_tensorflow=True, fashion_mnist=True),
        Assignment("05-pretrained", "p05_pretrained", uses_tensorflow=True, fashion_mnist=True, imagenet=True),
    ]
}


class UnknownAssignment(LookupError):
    pass


def get(name: str) -> Assignment:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownAssignment(f"unknown assignment {name!r}; known: {', '.join(REGISTRY)}") from None


def recognise(path: Path, nb: dict | None = None) -> Assignment:
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
