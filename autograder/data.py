"""Data loaders shared by the notebooks and the grader, through Keras' own download-and-cache code."""

from __future__ import annotations

import gzip

import numpy as np

from autograder.datasets import FASHION, FASHION_URL, DataNotFound, keras_home

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _keras_file(fname: str) -> str:
    """Path of one Fashion-MNIST file in Keras' cache; Keras downloads it when online and missing."""
    from keras.utils import get_file

    try:
        FASHION.link_into(keras_home(), files=(fname,))
    except (DataNotFound, OSError):
        pass  # not offline here: let Keras fetch it
    try:
        return get_file(fname, origin=FASHION_URL + fname, cache_subdir="datasets/fashion-mnist")
    except Exception as e:  # Keras raises a bare Exception on URL fetch failure
        raise DataNotFound(f"{FASHION.how_to_install()} ({type(e).__name__}: {e})") from None


def _idx(path: str, offset: int) -> np.ndarray:
    # Same decoding as keras.datasets.fashion_mnist.load_data.
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_fashion_mnist(split: str = "train"):
    """Return ``(images, labels)`` of Fashion-MNIST: ``split`` is "train" (60,000) or "test" (10,000).

    Notebooks only ever load "train" (they split a validation set from it); the grader alone scores
    on "test", so the labels it scores with never enter a student's kernel.
    """
    labels_f, images_f = {"train": FASHION.files[:2], "test": FASHION.files[2:]}[split]
    y = _idx(_keras_file(labels_f), 8)
    x = _idx(_keras_file(images_f), 16).reshape(len(y), 28, 28)
    return x, y
