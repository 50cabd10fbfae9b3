"""The one place that resolves where things live: the course folders and the offline data.

Precedence for data folders: explicit argument > environment variable > default location.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ("01-sklearn", "02-graphs", "03-mlp", "04-convnet", "05-pretrained")

# Fashion-MNIST as Keras downloads it; Debian's dataset-fashion-mnist ships the same four files.
FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
FASHION_TRAIN_FILES = FASHION_FILES[:2]
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET_FASHION = (
    "Fashion-MNIST was not found. Offline on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`, "
    "then `autograder data`. Online: `autograder data` lets Keras download it into its cache "
    "(~/.keras/datasets/fashion-mnist)."
)


class DataNotFound(RuntimeError):
    """Raised when a data set is neither in Keras' cache nor in a known offline location."""


def course_dir(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("AUTOGRADER_COURSE", REPO)).resolve()


def keras_home(home: str | os.PathLike | None = None) -> Path:
    """Keras' own cache folder (KERAS_HOME, else ~/.keras)."""
    return Path(home or os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def fashion_source_dir(source: str | os.PathLike | None = None) -> Path | None:
    """Where the four Fashion-MNIST files can be found offline, if anywhere."""
    candidates = [source, os.environ.get("FASHION_MNIST_DIR"), keras_home() / "datasets" / "fashion-mnist",
                  DEBIAN_FASHION_DIR]
    for c in candidates:
        if c and all((Path(c) / f).is_file() for f in FASHION_FILES):
            return Path(c)
    return None


def link_fashion(cache: Path, files=FASHION_FILES, source=None) -> Path:
    """Make ``files`` visible in a Keras cache folder as symlinks to an offline copy; return the folder."""
    target = cache / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    src = fashion_source_dir(source)
    for f in files:
        dst = target / f
        if dst.exists():
            continue
        if src is None:
            raise DataNotFound(HOW_TO_GET_FASHION)
        if (src / f).resolve() != dst.resolve():
            dst.symlink_to((src / f).resolve())
    return target
