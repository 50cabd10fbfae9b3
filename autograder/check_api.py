"""What a checks module uses: the ``check`` marker, the ``Artifacts`` reader and expected-vs-got asserts.

Artifacts are read without ever executing submission data: ``np.load(allow_pickle=False)``, JSON,
protobuf parsing, and Keras models in safe mode.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder.engine.in_kernel import ERRORS_FILE
from autograder.i18n import _

MAX_FILE_BYTES = 200 * 1024 * 1024


def check(question: str, points: float, hidden: bool = False):
    """Mark a test function as a graded check of ``question`` worth ``points``.

    Hidden checks run only at grading time, never in a student's self-check.
    """
    return pytest.mark.check(question=question, points=points, hidden=hidden)


class MissingAnswer(AssertionError):
    """An artifact is absent: the answer was not defined, or the student's code raised."""

    def __init__(self, message: str, raised: bool):
        super().__init__(message)
        self.raised = raised


class Artifacts:
    """Read-only view of one submission's exported files, plus the grader's hidden inputs."""

    def __init__(self, folder: str | Path, hidden: dict | None = None, exporter=None):
        """``exporter``: a lazy kernel-side Exporter (self-checks) that produces artifacts on demand."""
        self.folder = Path(folder)
        self.exporter = exporter
        self.hidden_inputs = hidden or {}
        self._cache: dict = {}
        self.measurements: dict[str, float] = {}
        try:
            errors = json.loads((self.folder / ERRORS_FILE).read_text())
            self.errors = {str(k): str(v)[:400] for k, v in errors.items()} if isinstance(errors, dict) else {}
        except (OSError, ValueError):
            self.errors = {}

    def _path(self, name: str, suffix: str) -> Path:
        if self.exporter is not None:
            self.exporter.realise(name)
            self.errors = self.exporter.errors
        path = self.folder / f"{name}{suffix}"
        if not path.is_file():
            if name in self.errors:
                raise MissingAnswer(_("computing `{name}` failed: {error}").format(name=name, error=self.errors[name]),
                                    raised=True)
            raise MissingAnswer(_("no answer for `{name}` was exported").format(name=name), raised=False)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MissingAnswer(_("`{name}` is larger than {size} MiB").format(name=name, size=MAX_FILE_BYTES // 2**20),
                                raised=False)
        return path

    def path(self, name: str, suffix: str) -> Path:
        """The checked path of an exported file (for readers of their own, e.g. a .keras zip's config.json)."""
        return self._path(name, suffix)

    def array(self, name: str) -> np.ndarray:
        if name not in self._cache:
            a = np.load(self._path(name, ".npy"), allow_pickle=False)
            if a.dtype.kind not in "biuf":
                raise MissingAnswer(_("`{name}` is not numeric (dtype {dtype})").format(name=name, dtype=a.dtype),
                                    raised=False)
            self._cache[name] = a
        return self._cache[name]

    def json(self, name: str):
        if name not in self._cache:
            self._cache[name] = json.loads(self._path(name, ".json").read_text())
        return self._cache[name]

    def graph(self, name: str):
        """The GraphDef protobuf of a traced function."""
        if name not in self._cache:
            from tensorflow.core.framework import graph_pb2

            try:
                self._cache[name] = graph_pb2.GraphDef.FromString(self._path(name, ".pb").read_bytes())
            except Exception as e:
                if isinstance(e, MissingAnswer):
                    raise
                raise MissingAnswer(_("`{name}` is not a valid GraphDef ({error})").format(name=name, error=type(e).__name__),
                                    raised=False)
        return self._cache[name]

    def model(self, name: str):
        """A Keras model loaded in safe mode (no code from the submission runs), loaded once."""
        if name not in self._cache:
            import keras

            path = self._path(name, ".keras")
            try:
                self._cache[name] = keras.saving.load_model(path, compile=False, safe_mode=True)
            except Exception as e:
                error = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                raise MissingAnswer(_("`{name}` could not be loaded as a Keras model: {error}").format(
                    name=name, error=error), raised=False)
        return self._cache[name]

    def cached(self, key: str, compute):
        """Memoise an expensive derived value (e.g. a model's predictions) across checks."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def hidden(self, name: str) -> np.ndarray:
        return self.hidden_inputs[name]

    def measure(self, key: str, value: float) -> float:
        """Record a numeric value a check judges (an accuracy, a loss): results and calibration keep it."""
        self.measurements[key] = float(value)
        return float(value)


def read_only(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only: for data a process keeps for every submission's checks."""
    a.setflags(write=False)
    return a


def infer(model, x, batch_size: int = 1000) -> np.ndarray:
    """What ``model.predict(x, batch_size=..., verbose=0)`` returns, without its cost per model: Keras builds and
    traces a predict function for every model it is asked about (0.1-0.2 s each, most of a check step's time on
    small inputs). The model is called in inference mode on batches instead; a model of several outputs still
    goes through ``predict`` (its outputs are a list)."""
    import keras

    x = np.asarray(x)
    parts = []
    for start in range(0, max(len(x), 1), batch_size):
        out = model(x[start:start + batch_size], training=False)
        if not keras.ops.is_tensor(out) and not isinstance(out, np.ndarray):
            return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
        parts.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def threshold_entry(assignment: str, key: str) -> dict:
    """The calibration record of ``key``: ``{"threshold", "kind" ("min"/"max"), "observed", ...}``."""
    from autograder import practicals

    path = practicals.get(assignment).thresholds
    try:
        return json.loads(path.read_text())[key]
    except (OSError, KeyError, ValueError):
        raise KeyError(f"no calibrated threshold for {key} in {path}; run `autograder calibrate {assignment}`") from None


def threshold(assignment: str, key: str) -> float:
    """The calibrated threshold for ``key`` of ``assignment`` (its practical's ``thresholds.json``)."""
    return float(threshold_entry(assignment, key)["threshold"])


def expect_calibrated(art: "Artifacts", assignment: str, key: str, got: float, what: str) -> None:
    """Measure ``got`` and compare it with the calibrated threshold (kind "min": at least; "max": at most)."""
    art.measure(key, got)
    entry = threshold_entry(assignment, key)
    limit = float(entry["threshold"])
    if entry.get("kind", "min") == "min":
        expect(got >= limit, _("{what} is {got:.4f}, expected at least {limit:.4f}").format(what=what, got=got, limit=limit))
    else:
        expect(got <= limit, _("{what} is {got:.4f}, expected at most {limit:.4f}").format(what=what, got=got, limit=limit))


# -- expected-vs-got assertions ------------------------------------------------------------------
# They raise explicitly (never a bare ``assert``): a checks module may be imported before pytest rewrites
# it, and ``python -O`` strips bare asserts, which would let a wrong answer pass.

class CheckFailure(AssertionError):
    """A check's verdict: the answer is wrong; the message says expected vs got in the student's terms."""


def expect(condition, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds (use instead of ``assert`` in checks modules)."""
    if not condition:
        raise CheckFailure(message)


def fmt(v) -> str:
    """A value as a student reads it: integers in full, floats to 6 significant digits, arrays summarised."""
    a = np.asarray(v)
    if a.size > 6:
        return _("array of shape {shape} starting {start}").format(shape=a.shape,
                                                                   start=np.array2string(a.ravel()[:4], precision=4))
    if a.ndim:
        return np.array2string(a, precision=6)
    x = a.item()
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}" if isinstance(x, float) else str(x)



def expect_shape(got, expected: tuple, what: str) -> None:
    shape = tuple(np.shape(got))
    expect(shape == tuple(expected), _("{what} has shape {shape}, expected {expected}").format(
        what=what, shape=shape, expected=tuple(expected)))


def expect_close(got, expected, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    expect_shape(got, expected.shape, what)
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        worst = np.max(np.abs(got - expected)) if got.size else 0.0
        if not np.all(np.isfinite(got)):
            raise CheckFailure(_("{what}: got non-finite values (NaN or infinity), expected {expected}").format(
                what=what, expected=fmt(expected)))
        raise CheckFailure(_("{what}: got {got}, expected {expected} (largest difference {worst:.3g})").format(
            what=what, got=fmt(got), expected=fmt(expected), worst=worst))


def expect_equal(got, expected, what: str) -> None:
    expect(got == expected, _("{what}: got {got!r}, expected {expected!r}").format(what=what, got=got, expected=expected))


def expect_at_least(got: float, threshold: float, what: str) -> None:
    expect(got >= threshold, _("{what} is {got:.4f}, expected at least {limit:.4f}").format(
        what=what, got=got, limit=threshold))
