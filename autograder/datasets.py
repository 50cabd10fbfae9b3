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


class DataNotFound(RuntimeError):
    """A dataset a practical needs is neither in Keras' cache nor in a known offline location."""


def keras_home(home: str | os.PathLike | None = None) -> Path:
    """Keras' own cache folder (KERAS_HOME, else ~/.keras)."""
    return Path(home or os.environ.get("KERAS_HOME") or Path.home() / ".keras")


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


# Fashion-MNIST as Keras downloads it; Debian's dataset-fashion-mnist ships the same four files.
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DEBIAN_DATASETS = "/usr/share/datasets"   # hidden from kernels: it holds the test split the grader scores with
FASHION = Provider(
    "fashion-mnist", "datasets/fashion-mnist",
    files=("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
           "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"),
    kernel_files=("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz"),
    required=True, offline_dirs=(DEBIAN_DATASETS + "/fashion-mnist",), env="FASHION_MNIST_DIR")

# What keras.applications.InceptionV3(weights="imagenet") and decode_predictions fetch (Keras 3.15 sources).
KERAS_MODELS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
IMAGENET_FILES = (
    ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
     KERAS_MODELS_URL + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
     "9a0d58056eeedaa3f26cb7ebd46da564"),   # md5, checked by keras.utils.get_file
    ("imagenet_class_index.json",
     "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
     "c2c37ea517e94d9795004a39431a14cb"),
)
IMAGENET = Provider("imagenet-inceptionv3", "models", files=tuple(n for n, _, _ in IMAGENET_FILES),
                    kernel_files=tuple(n for n, _, _ in IMAGENET_FILES), required=False)

# scikit-learn's two sample photos ship inside its wheel: readable wherever scikit-learn is installed.
SAMPLE_PHOTOS = Provider("sample-photos", "", files=(), kernel_files=(), required=True)


def _how_fashion() -> str:
    return ("Fashion-MNIST was not found. Offline on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`, "
            "then `autograder data`. Online: `autograder data` lets Keras download it into its cache "
            "(~/.keras/datasets/fashion-mnist).")


def _how_imagenet() -> str:
    """What to do when the ImageNet files cannot be downloaded: exactly where Keras' cache expects them."""
    cache = keras_home() / IMAGENET.subdir
    lines = ["The ImageNet weights of InceptionV3 are not in Keras' cache and cannot be downloaded here.",
             "Download these files on a machine with a network and copy them to exactly these paths:"]
    for name, url, md5 in IMAGENET_FILES:
        lines.append(f"  {cache / name}\n      from {url}\n      (md5 {md5}; Keras re-downloads a file "
                     "whose md5 differs)")
    lines.append("(Keras' cache is $KERAS_HOME/models, by default ~/.keras/models.) "
                 "Everything that does not need these weights still runs.")
    return "\n".join(lines)


def _how_photos() -> str:
    return "scikit-learn's sample photos ship with scikit-learn: `pip install scikit-learn`."


HOW_TO = {"fashion-mnist": _how_fashion, "imagenet-inceptionv3": _how_imagenet, "sample-photos": _how_photos}
PROVIDERS = {p.name: p for p in (FASHION, IMAGENET, SAMPLE_PHOTOS)}
HIDDEN_FROM_KERNEL = (DEBIAN_DATASETS,)


def get(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(PROVIDERS)}") from None


def how_to_get_imagenet() -> str:
    return IMAGENET.how_to_install()


def imagenet_missing() -> list[str]:
    return IMAGENET.missing()
