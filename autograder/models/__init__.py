"""Pretrained networks of practical 05: the kit's own small convnet, and where Keras keeps ImageNet weights.

``fashion_base_path()`` is the shipped network (``python -m autograder.models.build_base`` rebuilds it). The
ImageNet weights of InceptionV3 are never shipped: Keras downloads them into its cache
(``$KERAS_HOME/models``, default ``~/.keras/models``) on first use, and offline that file must be put there by hand.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The pretrained network: trained on these Fashion-MNIST classes; practical 05 transfers to the others.
PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
TRANSFER_CLASSES = (5, 6, 7, 8, 9)
FEATURE_LAYER = "flatten"           # the cut: the convolutional base ends here, the classifier (fc, predictions) follows
FEATURE_DIM = 1600                  # 5 x 5 x 64 activations

# What keras.applications.InceptionV3(weights="imagenet") and decode_predictions fetch (Keras 3.15 sources).
KERAS_MODELS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
INCEPTION_WEIGHTS = ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                     KERAS_MODELS_URL + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                     "9a0d58056eeedaa3f26cb7ebd46da564")   # md5, checked by keras.utils.get_file
CLASS_INDEX = ("imagenet_class_index.json",
               "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
               "c2c37ea517e94d9795004a39431a14cb")
IMAGENET_FILES = (INCEPTION_WEIGHTS, CLASS_INDEX)


def fashion_base_path() -> str:
    """Path of the kit's pretrained convnet (Keras format; load it with ``keras.saving.load_model``)."""
    return str(HERE / "fashion_base.keras")


def keras_cache(home: str | os.PathLike | None = None) -> Path:
    """Keras' cache folder for models: ``$KERAS_HOME/models`` (default ``~/.keras/models``)."""
    return Path(home or os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def imagenet_missing(home: str | os.PathLike | None = None) -> list[str]:
    """The ImageNet files (weights, class names) not in Keras' cache: paths where Keras expects them."""
    return [str(keras_cache(home) / name) for name, _, _ in IMAGENET_FILES if not (keras_cache(home) / name).is_file()]


def imagenet_available(home: str | os.PathLike | None = None) -> bool:
    return not imagenet_missing(home)


def how_to_get_imagenet(home: str | os.PathLike | None = None) -> str:
    """What to do when the ImageNet files cannot be downloaded: exactly where Keras' cache expects them."""
    lines = ["The ImageNet weights of InceptionV3 are not in Keras' cache and cannot be downloaded here.",
             "Download these files on a machine with a network and copy them to exactly these paths:"]
    for name, url, md5 in IMAGENET_FILES:
        lines.append(f"  {keras_cache(home) / name}\n      from {url}\n      (md5 {md5}; Keras re-downloads a file "
                     "whose md5 differs)")
    lines.append("(Keras' cache is $KERAS_HOME/models, by default ~/.keras/models.) "
                 "Everything that does not need these weights still runs.")
    return "\n".join(lines)


def link_imagenet(kernel_home: str | os.PathLike, binds: dict | None = None,
                  home: str | os.PathLike | None = None) -> list[str]:
    """Make the grader's ImageNet files visible in a kernel's Keras cache; return the names provided.

    Symlinks by default; with ``binds`` (a sandboxed kernel, which cannot follow links out of its folder), an
    empty placeholder is created and ``binds[placeholder] = grader's file`` is added for a read-only bind mount.
    """
    provided = []
    src, dst = keras_cache(home), Path(kernel_home) / "models"
    for name, _, _ in IMAGENET_FILES:
        if not (src / name).is_file() or (dst / name).exists():
            continue
        dst.mkdir(parents=True, exist_ok=True)
        if binds is not None:
            (dst / name).touch()
            binds[dst / name] = (src / name).resolve()
        else:
            try:
                (dst / name).symlink_to((src / name).resolve())
            except OSError:
                shutil.copy(src / name, dst / name)
        provided.append(name)
    return provided
