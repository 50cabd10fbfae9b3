"""Build the kit's small pretrained network: ``python -m autograder.models.build_base``.

A convnet trained on Fashion-MNIST classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat) only, saved in
Keras' format as ``autograder/models/fashion_base.keras``. Practical 05 reuses it as a feature extractor on the
classes it never saw (5-9: Sandal, Shirt, Sneaker, Bag, Ankle boot), offline, without ImageNet weights.

Reproducible: Python/numpy/Keras seeds and TensorFlow op determinism are fixed, so on the same stack (the
pinned versions, CPU) a rebuild gives the same weights up to float rounding; tests check the architecture and
the accuracy on its own classes rather than exact weights.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from autograder.models import PRETRAIN_CLASSES

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

SEED = 0
EPOCHS = 3
BATCH = 128


def build(num_classes: int = len(PRETRAIN_CLASSES)):
    """The architecture; layer names are part of the kit's contract.

    conv1 -> pool1 -> conv2 -> pool2 -> flatten is the convolutional base (generic features: practical 05 cuts
    there, 5*5*64 = 1600 features); fc -> dropout -> predictions is the task-specific classifier.
    """
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        layers.Rescaling(1 / 255, name="rescale"),
        layers.Conv2D(32, 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(64, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(128, activation="relu", name="fc"),
        layers.Dropout(0.3, name="dropout"),
        layers.Dense(num_classes, activation="softmax", name="predictions"),
    ], name="fashion_base")


def subset(x, y, classes):
    import numpy as np

    keep = np.isin(y, classes)
    return x[keep][..., None].astype("float32"), np.searchsorted(classes, y[keep])


def train(seed: int = SEED, epochs: int = EPOCHS):
    import keras
    import tensorflow as tf

    from autograder.data import load_fashion_mnist

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x, y = subset(*load_fashion_mnist("train"), PRETRAIN_CLASSES)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=2)
    return model


def evaluate(model) -> float:
    """Accuracy on the official test split of the classes the network was trained on."""
    import numpy as np

    from autograder.data import load_fashion_mnist

    x, y = subset(*load_fashion_mnist("test"), PRETRAIN_CLASSES)
    return float(np.mean(np.argmax(model.predict(x, batch_size=1000, verbose=0), axis=1) == y))


def save(model, path: Path) -> None:
    """Save without the optimizer state (smaller file; the kit ships weights, not a training run)."""
    import keras

    clean = build()
    clean.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save(path)
    keras.saving.load_model(path, safe_mode=True)  # refuse to ship what safe mode cannot load


def main(argv=None) -> int:
    from autograder.models import fashion_base_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=fashion_base_path(), help="where to write the .keras file")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    args = p.parse_args(argv)
    t0 = time.monotonic()
    model = train(args.seed, args.epochs)
    acc = evaluate(model)
    save(model, args.out)
    print(f"test accuracy on classes {PRETRAIN_CLASSES}: {acc:.4f}; {model.count_params():,} parameters; "
          f"{args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
