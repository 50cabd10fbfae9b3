"""Pretrained networks of practical 05: the kit's own small convnet ``fashion_base.keras`` (rebuilt by
``python -m autograder.models.build_base``; the release ships it beside the 05 notebook, where
``dl4img.fashion_base_path()`` finds it). The ImageNet weights of InceptionV3 are never shipped: Keras downloads
them into its cache on first use; ``autograder.datasets`` locates them and ``dl4img.how_to_get_imagenet()`` says
where to put them offline.
"""

from __future__ import annotations

from pathlib import Path

from dl4img import PRETRAIN_CLASSES, TRANSFER_CLASSES  # noqa: F401  (the grader's checks import them from here)

FEATURE_LAYER = "flatten"           # the cut: the convolutional base ends here, the classifier (fc, predictions) follows
FEATURE_DIM = 1600                  # 5 x 5 x 64 activations


def fashion_base_path() -> str:
    """The kit's own copy of the pretrained convnet: the grader never loads one from beside a notebook."""
    return str(Path(__file__).resolve().parent / "fashion_base.keras")
