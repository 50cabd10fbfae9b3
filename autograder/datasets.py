"""Datasets a practical declares (``datasets = [...]`` in its ``practical.toml``): one provider each.

A provider knows where its files are offline (the one place that names those locations), makes the files a
kernel may read visible in the kernel's Keras home (read-only bind mounts in the sandbox, symlinks outside it),
and says how to install them when they are missing. Only training files ever reach a kernel: the grader alone
reads Fashion-MNIST's test split.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# The students' helper module holds the datasets' locations and Keras' cache: notebooks and grader share them.
from dl4img import (DEBIAN_DATASETS, DEBIAN_FASHION, FASHION_ENV, FASHION_FILES, FASHION_SUBDIR,
                    IMAGENET_FILES, DataNotFound, how_to_get_imagenet, keras_home)


@dataclass(frozen=True)
class Provider:
    name: str
    subdir: str                # inside a Keras home: where Keras reads (and downloads) these files
    files: tuple[str, ...]     # every file of the dataset
    kernel_files: tuple[str, ...]  # those a student's kernel may read
    required: bool             # missing: refuse to grade (True) or let the checks that need it be skipped (False)
    offline_dirs: tuple[str, ...] = ()  # other folders that may hold the same files (system packages)
    env: str = ""              # an environment variable naming a folder that holds them

    def source(self, explicit: str | os.PathLike | None = None) -> Path | None:
        """The first folder holding all of ``files``: explicit > environment > Keras' cache > system package."""
        candidates = [explicit, os.environ.get(self.env) if self.env else None,
                      keras_home() / self.subdir, *self.offline_dirs]
        for c in candidates:
            if c and all((Path(c) / f).is_file() for f in self.files):
                return Path(c)
        return None

    def missing(self) -> list[str]:
        """Paths in Keras' cache where the files are expected, for each one found nowhere."""
        src = self.source()
        return [] if src else [str(keras_home() / self.subdir / f) for f in self.files]

    def how_to_install(self) -> str:
        return HOW_TO[self.name]()

    def link_into(self, home: Path, files=None, source=None) -> Path:
        """Make ``files`` visible in the Keras home ``home`` as symlinks to the offline copy; return the folder."""
        target = Path(home) / self.subdir
        target.mkdir(parents=True, exist_ok=True)
        src = self.source(source)
        for f in files or self.files:
            dst = target / f
            if dst.exists():
                continue
            if src is None:
                raise DataNotFound(self.how_to_install())
            if (src / f).resolve() != dst.resolve():
                try:
                    dst.symlink_to((src / f).resolve())
                except OSError:
                    shutil.copy(src / f, dst)
        return target

    def provide(self, kernel_home: Path, binds: dict | None) -> list[str]:
        """Make the kernel's files visible in its Keras home; return the names provided.

        ``binds`` (a sandboxed kernel, which cannot follow links out of its folder): an empty placeholder is
        created and ``binds[placeholder] = the grader's file`` is added for a read-only bind mount.
        """
        src = self.source()
        if src is None:
            if self.required:
                raise DataNotFound(self.how_to_install())
            return []
        dst = Path(kernel_home) / self.subdir
        dst.mkdir(parents=True, exist_ok=True)
        for f in self.kernel_files:
            if binds is None:
                self.link_into(kernel_home, files=(f,))
            else:
                (dst / f).touch()
                binds[dst / f] = (src / f).resolve()
        return list(self.kernel_files)


# Fashion-MNIST as Keras downloads it; Debian's dataset-fashion-mnist ships the same four files (DEBIAN_DATASETS
# is hidden from kernels: it holds the test split the grader scores with).
FASHION = Provider("fashion-mnist", FASHION_SUBDIR, files=FASHION_FILES, kernel_files=FASHION_FILES[:2],
                   required=True, offline_dirs=(DEBIAN_FASHION,), env=FASHION_ENV)

# What keras.applications.InceptionV3(weights="imagenet") and decode_predictions fetch.
IMAGENET = Provider("imagenet-inceptionv3", "models", files=tuple(n for n, _, _ in IMAGENET_FILES),
                    kernel_files=tuple(n for n, _, _ in IMAGENET_FILES), required=False)

# scikit-image's sample photos (05's kitten: skimage.data.chelsea()) ship inside its wheel: readable wherever the
# pinned scikit-image is installed, nothing to provide.
SAMPLE_PHOTOS = Provider("sample-photos", "", files=(), kernel_files=(), required=True)


def _how_fashion() -> str:
    return ("Fashion-MNIST was not found. Offline on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`, "
            "then `autograder data`. Online: `autograder data` lets Keras download it into its cache "
            "(~/.keras/datasets/fashion-mnist).")


def _how_photos() -> str:
    return "scikit-image's sample photos ship with scikit-image: `pip install scikit-image==0.26.0`."


HOW_TO = {"fashion-mnist": _how_fashion, "imagenet-inceptionv3": how_to_get_imagenet, "sample-photos": _how_photos}
PROVIDERS = {p.name: p for p in (FASHION, IMAGENET, SAMPLE_PHOTOS)}
HIDDEN_FROM_KERNEL = (DEBIAN_DATASETS,)


def get(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(PROVIDERS)}") from None


def imagenet_missing() -> list[str]:
    return IMAGENET.missing()
