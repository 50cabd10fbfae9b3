"""Pretrained networks of practical 05: the kit's own small convnet (``fashion_base_path()``; rebuilt by
``python -m autograder.models.build_base``). The ImageNet weights of InceptionV3 are never shipped: Keras downloads
them into its cache on first use; ``autograder.datasets`` locates them and says where to put them offline.
"""

from __future__ import annotations

from pathlib import Path

from autograder.datasets import how_to_get_imagenet  # noqa: F401  (the 05 notebook imports it from here)

HERE = Path(__file__).resolve().parent

# The pretrained network: trained on these Fashion-MNIST classes; practical 05 transfers to the others.
PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
TRANSFER_CLASSES = (5, 6, 7, 8, 9)
FEATURE_LAYER = "flatten"           # the cut: the convolutional base ends here, the classifier (fc, predictions) follows
FEATURE_DIM = 1600                  # 5 x 5 x 64 activations


def fashion_base_path() -> str:
    """Path of the kit's pretrained convnet (Keras format; load it with ``keras.saving.load_model``)."""
    return str(HERE / "fashion_base.keras")
