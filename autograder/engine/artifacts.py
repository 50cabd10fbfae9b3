"""Artifact collection: the files an export cell wrote, moved out of the kernel's reach, per question.

Only plain files of the artifact kinds and sizes are kept; anything else is noted and ignored. Each
question's snapshot is renamed into place whole, so it is complete or absent.
"""

from __future__ import annotations

import json
import shutil
import os
from pathlib import Path

ARTIFACT_SUFFIXES = (".npy", ".json", ".pb", ".keras")
ARTIFACT_MB = 200


def collect_artifacts(src: Path, dst: Path) -> tuple[Path | None, list[str]]:
    """Copy the exported files into a grader-owned folder, refusing anything but small regular files.

    The kernel could have planted links or devices in its own folder; only plain files with a known suffix
    and a plain name come through, opened without following links.
    """
    if not src.is_dir() or src.is_symlink():
        return None, []
    dst.mkdir()
    rejected = []
    for entry in os.scandir(src):
        name = entry.name
        ok_name = name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum() and name.endswith(ARTIFACT_SUFFIXES)
        if not ok_name or not entry.is_file(follow_symlinks=False):
            rejected.append(f"{name!r} is not a plain artifact file and was ignored")
            continue
        if entry.stat(follow_symlinks=False).st_size > ARTIFACT_MB * 2**20:
            rejected.append(f"{name!r} is larger than {ARTIFACT_MB} MB and was ignored")
            continue
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f, open(dst / name, "wb") as out:
            shutil.copyfileobj(f, out)
    return dst, rejected

SNAPSHOTS = "snapshots"
FINAL = "_final"


def take_snapshot(job: Path, out: str, name: str) -> None:
    """(Worker) move the files of one export cell out of the kernel's reach, as ``snapshots/<name>``.

    Called before the next student cell runs; the rename makes a snapshot whole or absent, even if the
    worker is killed meanwhile.
    """
    folder = job / SNAPSHOTS
    folder.mkdir(exist_ok=True)
    tmp = folder / f".tmp-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    collected, rejected = collect_artifacts(Path(out), tmp)
    shutil.rmtree(out, ignore_errors=True)
    if collected is None:
        return
    if rejected:
        (folder / f"{name}.notes.json").write_text(json.dumps(rejected))
    tmp.rename(folder / name)


def gathered(job: Path, questions: list[str]) -> tuple[dict[str, Path], list[str], list[str]]:
    """(Grader) each question's snapshot: taken at its check cell, else by the final export cell, else none."""
    folder = job / SNAPSHOTS
    snapshots, from_final, notes = {}, [], []
    for q in questions:
        if (folder / q).is_dir():
            snapshots[q] = folder / q
        elif (folder / FINAL).is_dir():
            snapshots[q] = folder / FINAL
            from_final.append(q)
    for f in sorted(folder.glob("*.notes.json")) if folder.is_dir() else ():
        notes += [str(n) for n in json.loads(f.read_text())]
    if from_final:
        notes.append(f"graded from the notebook's final state, as their check cell did not run: {', '.join(from_final)}")
    return snapshots, from_final, notes

