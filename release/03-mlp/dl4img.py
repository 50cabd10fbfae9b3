"""Data and model helpers of the "deep learning for images" practicals.

This one file is all a notebook needs besides numpy, Keras and the standard library: it ships beside each
notebook that uses it. Fashion-MNIST comes from Keras' cache (Keras downloads it there on first use when
online) or, offline, from Debian's ``dataset-fashion-mnist`` package; practical 05's pretrained network is the
file ``fashion_base.keras`` shipped beside its notebook.

numpy and Keras are imported only when a function needs them, so that the grader can read the locations
below without them.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# Practical 05's pretrained network was trained on the first five classes; the notebook transfers it to the others.
PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
TRANSFER_CLASSES = (5, 6, 7, 8, 9)

# Where Fashion-MNIST is: as Keras downloads it (same four files as keras.datasets.fashion_mnist), a folder named
# by FASHION_MNIST_DIR, or Debian's dataset-fashion-mnist package.
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_SUBDIR = "datasets/fashion-mnist"      # inside Keras' cache
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
FASHION_ENV = "FASHION_MNIST_DIR"
DEBIAN_DATASETS = "/usr/share/datasets"
DEBIAN_FASHION = DEBIAN_DATASETS + "/fashion-mnist"

# What keras.applications.InceptionV3(weights="imagenet") and decode_predictions download (Keras 3.15 sources).
IMAGENET_FILES = (
    ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
     "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
     "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
     "9a0d58056eeedaa3f26cb7ebd46da564"),   # md5, checked by keras.utils.get_file
    ("imagenet_class_index.json",
     "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
     "c2c37ea517e94d9795004a39431a14cb"),
)

BASE_NETWORK = "fashion_base.keras"


class DataNotFound(RuntimeError):
    """Fashion-MNIST is nowhere on this machine and cannot be downloaded."""


def keras_home() -> Path:
    """Keras' own cache folder: $KERAS_HOME, else ~/.keras."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def _fashion_file(name: str) -> Path:
    """One Fashion-MNIST file: found on this machine, else downloaded by Keras into its cache."""
    for folder in (os.environ.get(FASHION_ENV), keras_home() / FASHION_SUBDIR, DEBIAN_FASHION):
        if folder and (Path(folder) / name).is_file():
            return Path(folder) / name
    from keras.utils import get_file

    try:
        return Path(get_file(name, origin=FASHION_URL + name, cache_dir=keras_home(), cache_subdir=FASHION_SUBDIR))
    except Exception as e:  # Keras raises a bare Exception when the download fails
        raise DataNotFound(
            f"Fashion-MNIST is not on this machine and could not be downloaded ({type(e).__name__}: {e}).\n"
            f"Online, Keras downloads it on first use into {keras_home() / FASHION_SUBDIR}. Offline on "
            "Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`. Or copy the files "
            f"{', '.join(FASHION_FILES)} into a folder and set the environment variable {FASHION_ENV} to it."
        ) from None


def _idx(path: Path, offset: int):
    import numpy as np

    # Same decoding as keras.datasets.fashion_mnist.load_data.
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_fashion_mnist(split: str = "train"):
    """Return ``(images, labels)`` of Fashion-MNIST: ``split`` is "train" (60,000) or "test" (10,000).

    Images are uint8 arrays of shape (n, 28, 28), labels uint8 class numbers (names: ``FASHION_CLASSES``).
    """
    labels_f, images_f = {"train": FASHION_FILES[:2], "test": FASHION_FILES[2:]}[split]
    y = _idx(_fashion_file(labels_f), 8)
    x = _idx(_fashion_file(images_f), 16).reshape(len(y), 28, 28)
    return x, y


def how_to_get_imagenet() -> str:
    """What to do when InceptionV3's ImageNet files cannot be downloaded: exactly where Keras' cache expects them."""
    cache = keras_home() / "models"
    lines = ["The ImageNet weights of InceptionV3 are not in Keras' cache and cannot be downloaded here.",
             "Download these files on a machine with a network and copy them to exactly these paths:"]
    for name, url, md5 in IMAGENET_FILES:
        lines.append(f"  {cache / name}\n      from {url}\n      (md5 {md5}; Keras re-downloads a file "
                     "whose md5 differs)")
    lines.append("(Keras' cache is $KERAS_HOME/models, by default ~/.keras/models.) "
                 "Everything that does not need these weights still runs.")
    return "\n".join(lines)


def fashion_base_path() -> str:
    """Path of practical 05's pretrained convnet (load it with ``keras.saving.load_model``).

    It ships beside the notebook (and this file); the course kit, which grades with its own copy of this file,
    keeps it in ``autograder/models/``.
    """
    for path in (HERE / BASE_NETWORK, HERE / "autograder" / "models" / BASE_NETWORK):
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f"{BASE_NETWORK} is not beside this notebook ({HERE}): copy it there from the "
                            "practical's folder you were given.")
