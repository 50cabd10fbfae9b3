#!/usr/bin/env python3
"""Check the answer keys' training on another machine (an accelerator) against the CPU-calibrated thresholds.

    python scripts/device_check.py --quick                          # smoke run here (CPU), ~1 min
    python scripts/device_check.py --data DIR --out $OUT            # on a device machine, < 5 min
    KERAS_BACKEND=jax python scripts/device_check.py --data DIR     # force a backend

What it does, in order, and writes to OUT/device_check.{json,md}:
1. Reports the machine: Python, which of TensorFlow / JAX / PyTorch / CuPy / Keras are installed, and the devices
   each sees (jax.devices(), torch.cuda, tf.config GPUs). It says plainly when TensorFlow is NOT installed or sees
   no GPU: then the practicals' notebooks (which import tensorflow) cannot run there.
2. If TensorFlow is installed and --notebooks is given: grades every answer key (solutions/) with the kit's engine
   (grade_notebook, device "auto") and reports scores and measurements vs the thresholds files.
3. Always (when Keras 3 is importable): a Keras-only reproduction of the answer keys' training parts - the 03 MLP
   and the 04 convnet (RECIPES below) on Fashion-MNIST read from the four IDX .gz files in --data - under a few
   seeds, on whatever backend is available (tensorflow, else jax, else torch; KERAS_BACKEND overrides), and
   compares the test accuracies with the accuracy thresholds in autograder/practicals/<package>/thresholds.json.
   It also trains the first recipe twice with the same seed and reports whether the two runs agree (determinism).

The reproduction is a stand-in for the notebooks, not the notebooks: its recipe (RECIPES) must follow the
answer keys' architecture and training budget for the comparison to mean something; the report prints the recipe.
On a machine without TensorFlow and without network, carry Keras and what `import keras` needs (measured with
Keras 3.15.1 on the JAX backend): keras, optree (compiled: a wheel for the device's Python version), rich with
markdown-it-py, mdurl and pygments, absl-py, namex; ml-dtypes and packaging usually come with JAX; h5py is not
needed. E.g. `pip download keras==3.15.1 --only-binary=:all: --python-version 3.X -d wheels`, then on the device
`pip install --no-index --find-links wheels keras` or `pip install --target DIR` and PYTHONPATH=DIR.
Fashion-MNIST: carry the four .gz files (30 MB) and pass --data DIR. Needs only numpy besides Keras and a backend.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import importlib.util
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRACTICALS = REPO / "autograder" / "practicals"   # <package>/practical.toml names it, thresholds.json beside
sys.path.insert(0, str(REPO))
from autograder.datasets import FASHION as FASHION_DATA  # noqa: E402  (stdlib only: runs where TF is absent)

FASHION = dict(zip(("y_train", "x_train", "y_test", "x_test"), FASHION_DATA.files))

# Keras-only stand-ins of the answer keys' training parts, one per calibrated key ("key" in thresholds/<name>.json).
# tests/test_calibrate.py checks each recipe's constants against the answer key's notebook:
# 03: fixed 10,000-image validation split drawn with default_rng(0), RandomNormal(0.1) initialisers, logits,
#     SGD 0.25, batches of 100, 2 epochs; 04: 5,000-image validation split (default_rng(0)), Conv2D 16 and 32 VALID
#     + max-pool + ReLU, Dense 100 ReLU, Dense 10 logits, Adam 3e-3, batches of 128, 2 epochs.
MLP = {"model": "mlp", "init_std": 0.1, "optimizer": "sgd", "lr": 0.25, "batch": 100, "epochs": 2, "n_val": 10000}
RECIPES = {
    "03-mlp": [
        dict(MLP, key="test_accuracy_model_10", hidden=[10], activation=None),
        dict(MLP, key="test_accuracy_model_30", hidden=[30], activation=None),
        dict(MLP, key="test_accuracy_model_relu", hidden=[30], activation="relu"),
        dict(MLP, key="test_accuracy_model_final", hidden=[30, 25], activation="relu"),
    ],
    "04-convnet": [
        {"key": "test_accuracy", "model": "convnet", "filters": [16, 32], "dense": 100, "optimizer": "adam",
         "lr": 3e-3, "batch": 128, "epochs": 2, "n_val": 5000},
    ],
}
QUICK = {"n_train": 3000, "epochs": 1, "test_size": 2000}


def log(msg: str) -> None:
    print(f"[device_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- 1. the machine ---------------------------------------------------------------------------------

def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def version_of(name: str) -> str | None:
    from importlib import metadata

    for dist in (name, {"tensorflow": "tensorflow-cpu"}.get(name, name)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def probe_devices() -> dict:
    """Libraries present and the devices they see; never raises."""
    info: dict = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                  "libraries": {}, "devices": {}, "notes": []}
    for lib in ("tensorflow", "jax", "torch", "cupy", "keras", "numpy"):
        info["libraries"][lib] = version_of(lib) if installed(lib) else None
    if info["libraries"]["tensorflow"] is None:
        info["notes"].append("TensorFlow is NOT installed here: the practicals' notebooks (which import tensorflow) "
                             "cannot be graded on this machine; only the Keras-only reproduction runs.")
    if installed("jax"):
        try:
            import jax

            info["devices"]["jax"] = [str(d) for d in jax.devices()]
            info["devices"]["jax_default_backend"] = jax.default_backend()
        except Exception as e:
            info["devices"]["jax"] = f"error: {type(e).__name__}: {e}"
    if installed("torch"):
        try:
            import torch

            info["devices"]["torch_cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
                if torch.cuda.is_available() else []
        except Exception as e:
            info["devices"]["torch_cuda"] = f"error: {type(e).__name__}: {e}"
    return info


def probe_tensorflow(info: dict) -> None:
    """Import TensorFlow (only when asked for: it is slow) and record its GPUs."""
    if info["libraries"].get("tensorflow") is None:
        return
    try:
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
        info["devices"]["tensorflow_gpus"] = gpus
        if not gpus:
            info["notes"].append("TensorFlow is installed but sees NO GPU: notebooks run on the CPU here.")
    except Exception as e:
        info["devices"]["tensorflow_gpus"] = f"error: {type(e).__name__}: {e}"
        info["notes"].append(f"TensorFlow is installed but failed to import: {type(e).__name__}: {e}")


def choose_backend(info: dict) -> str | None:
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    for backend, lib in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if info["libraries"].get(lib):
            return backend
    return None


# -- 2. the notebooks (only where TensorFlow is installed) ------------------------------------------

def grade_answer_keys(budget_s: float, thresholds: dict) -> list[dict]:
    sys.path.insert(0, str(REPO))
    from autograder import practicals
    from autograder.grade import grade_notebook

    rows = []
    t0 = time.monotonic()
    for name, a in practicals.REGISTRY.items():
        path = a.solution_notebook(REPO)
        if not path.is_file():
            continue
        if time.monotonic() - t0 > budget_s:
            rows.append({"assignment": name, "status": "skipped (time budget)"})
            continue
        r = grade_notebook(path, device="auto")
        row = {"assignment": name, "status": r.status, "score": r.score, "max_score": r.max_score,
               "total_s": r.timings.get("total_s"), "measurements": r.measurements,
               "failed": [c.name for c in r.checks if c.status != "passed"]}
        row["vs_thresholds"] = compare(name, r.measurements, thresholds)
        rows.append(row)
        log(f"notebook {name}: {r.status} {r.score:g}/{r.max_score:g} in {r.timings.get('total_s', 0):.1f} s")
    return rows


# -- 3. the Keras-only reproduction -----------------------------------------------------------------

def find_data(arg: str | None) -> Path | None:
    return FASHION_DATA.source(arg)


def read_idx(path: Path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(folder: Path) -> dict:
    return {k: read_idx(folder / f) for k, f in FASHION.items()}


def build(keras, recipe: dict):
    layers = keras.layers
    init = keras.initializers.RandomNormal(stddev=recipe["init_std"]) if recipe.get("init_std") else "glorot_uniform"
    if recipe["model"] == "mlp":
        body = [keras.Input((784,))]
        body += [layers.Dense(h, activation=recipe.get("activation"), kernel_initializer=init) for h in recipe["hidden"]]
    else:
        body = [keras.Input((28, 28, 1))]
        for f in recipe["filters"]:
            body += [layers.Conv2D(f, 3, padding="valid", kernel_initializer=init), layers.MaxPooling2D(2), layers.ReLU()]
        body += [layers.Flatten(), layers.Dense(recipe["dense"], activation="relu", kernel_initializer=init)]
    model = keras.Sequential(body + [layers.Dense(10, kernel_initializer=init)])  # logits
    opt = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[recipe["optimizer"]](learning_rate=recipe["lr"])
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def prepare(data: dict, recipe: dict, test_size: int | None):
    """Training split as the answer keys make it (validation held out with default_rng(0)); the official test split."""
    import numpy as np

    split = np.random.default_rng(0).permutation(len(data["y_train"]))
    train = split[recipe.get("n_val", 0):]
    if recipe.get("n_train"):
        train = train[:recipe["n_train"]]
    shape = (-1, 784) if recipe["model"] == "mlp" else (-1, 28, 28, 1)
    x = (data["x_train"][train].astype("float32") / 255.0).reshape(shape)
    xt = (data["x_test"][:test_size].astype("float32") / 255.0).reshape(shape)
    return x, data["y_train"][train].astype("int32"), xt, data["y_test"][:test_size].astype("int32")


def train_once(keras, data: dict, recipe: dict, seed: int, test_size: int | None) -> dict:
    import numpy as np

    x, y, xt, yt = prepare(data, recipe, test_size)
    keras.utils.set_random_seed(seed)
    model = build(keras, recipe)
    t0 = time.monotonic()
    model.fit(x, y, batch_size=recipe["batch"], epochs=recipe["epochs"], verbose=0)
    train_s = time.monotonic() - t0
    pred = np.argmax(np.asarray(model.predict(xt, batch_size=1000, verbose=0)), axis=1)
    return {"seed": seed, "test_accuracy": float(np.mean(pred == yt)), "train_s": round(train_s, 2),
            "params": int(model.count_params()), "n_train": int(len(y))}


def reproduce(data_dir: Path, seeds: list[int], quick: bool, budget_s: float, thresholds: dict) -> dict:
    import keras

    data = load_fashion(data_dir)
    out = {"backend": keras.backend.backend(), "keras": keras.__version__, "runs": [], "determinism": None}
    t0 = time.monotonic()
    test_size = QUICK["test_size"] if quick else None
    for name, recipes in RECIPES.items():
        for base in recipes:
            recipe = dict(base, **({k: v for k, v in QUICK.items() if k != "test_size"} if quick else {}))
            runs = []
            for seed in seeds:
                if time.monotonic() - t0 > budget_s:
                    log(f"{name} {recipe['key']} seed {seed}: skipped (time budget {budget_s:.0f} s)")
                    break
                runs.append(train_once(keras, data, recipe, seed, test_size))
                log(f"{name} {recipe['key']} seed {seed}: test accuracy {runs[-1]['test_accuracy']:.4f} "
                    f"in {runs[-1]['train_s']:.1f} s")
            accs = [r["test_accuracy"] for r in runs]
            out["runs"].append({"assignment": name, "key": recipe["key"], "recipe": recipe,
                                "test_size": test_size or int(len(data["y_test"])), "runs": runs,
                                "vs_thresholds": compare(name, {recipe["key"]: min(accs)} if accs else {}, thresholds)})
            if out["determinism"] is None and runs and time.monotonic() - t0 < budget_s:
                again = train_once(keras, data, recipe, seeds[0], test_size)
                out["determinism"] = {"assignment": name, "key": recipe["key"], "seed": seeds[0],
                                      "first": runs[0]["test_accuracy"], "second": again["test_accuracy"],
                                      "identical": again["test_accuracy"] == runs[0]["test_accuracy"]}
    return out


# -- thresholds -------------------------------------------------------------------------------------

def load_thresholds() -> dict:
    files = {}
    for p in sorted(PRACTICALS.glob("*/thresholds.json")):
        name = re.search(r'^name = "([^"]+)"', (p.parent / "practical.toml").read_text(), re.M).group(1)
        try:
            files[name] = json.loads(p.read_text())
        except ValueError as e:
            files[name] = {"_error": str(e)}
    return files


def compare(name: str, measured: dict, thresholds: dict) -> list[dict]:
    """Each measured key vs the CPU-calibrated threshold of the same key (worst seed here vs threshold)."""
    rows = []
    for key, value in measured.items():
        entry = thresholds.get(name, {}).get(key)
        if not isinstance(entry, dict) or "threshold" not in entry:
            rows.append({"key": key, "value": round(value, 4), "threshold": None, "passes": None})
            continue
        kind, limit = entry.get("kind", "min"), float(entry["threshold"])
        ok = value >= limit if kind == "min" else value <= limit
        obs = entry.get("observed") or []
        rows.append({"key": key, "value": round(value, 4), "threshold": limit, "kind": kind, "passes": ok,
                     "cpu_observed": [min(obs), max(obs)] if obs else None})
    return rows


def _vs(c: dict) -> str:
    if c["threshold"] is None:
        return f"{c['key']}: no threshold on file"
    sign = ">=" if c["kind"] == "min" else "<="
    cpu = f" (CPU seeds {c['cpu_observed'][0]:.4f}..{c['cpu_observed'][1]:.4f})" if c.get("cpu_observed") else ""
    return f"{c['key']} {c['value']:.4f} {sign} {c['threshold']}{cpu}: {'ok' if c['passes'] else 'FAILS'}"


# -- report -----------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Device check", "", f"- date: {report['date']}", f"- command: `{report['command']}`",
             f"- python {m['python']} on {m['platform']}, {m['cpus']} CPUs",
             "- libraries: " + ", ".join(f"{k} {v or 'NOT installed'}" for k, v in m["libraries"].items()),
             "- devices: " + (", ".join(f"{k}: {v}" for k, v in m["devices"].items()) or "none probed")]
    lines += [f"- **{n}**" for n in m["notes"]]
    if report.get("notebooks") is not None:
        lines += ["", "## Answer keys graded with the kit (TensorFlow)", "",
                  "| assignment | status | score | seconds | vs thresholds |", "|---|---|---|---|---|"]
        for r in report["notebooks"]:
            vs = "; ".join(_vs(c) for c in r.get("vs_thresholds", [])) or "-"
            lines.append(f"| {r['assignment']} | {r['status']} | {r.get('score', '-')}/{r.get('max_score', '-')} | "
                         f"{r.get('total_s', '-')} | {vs} |")
    rep = report.get("reproduction")
    if rep:
        if rep.get("error"):
            lines += ["", f"## Keras-only reproduction: not run ({rep['error']})"]
        else:
            lines += ["", f"## Keras-only reproduction (Keras {rep['keras']}, backend {rep['backend']})", "",
                      "| assignment | key | recipe | seeds | test accuracy (min..max) | train s/run | worst seed vs CPU threshold |",
                      "|---|---|---|---|---|---|---|"]
            for r in rep["runs"]:
                accs = [x["test_accuracy"] for x in r["runs"]]
                rng = f"{min(accs):.4f}..{max(accs):.4f}" if accs else "-"
                ts = f"{sum(x['train_s'] for x in r['runs']) / len(accs):.1f}" if accs else "-"
                vs = "; ".join(_vs(c) for c in r["vs_thresholds"]) or "-"
                rec = ", ".join(f"{k}={v}" for k, v in r["recipe"].items() if k != "key")
                n_train = r["runs"][0]["n_train"] if r["runs"] else "?"
                lines.append(f"| {r['assignment']} | {r['key']} | {rec}; {n_train} train, {r['test_size']} test | "
                             f"{len(accs)} | {rng} | {ts} | {vs} |")
            d = rep.get("determinism")
            if d:
                lines += ["", f"Determinism: {d['assignment']} trained twice with seed {d['seed']}: "
                              f"{d['first']:.6f} then {d['second']:.6f} ({'identical' if d['identical'] else 'DIFFERENT'})."]
    lines += ["", f"Total {report['wall_s']:.1f} s; verdict: **{report['verdict']}**"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="folder with the four Fashion-MNIST .gz files")
    p.add_argument("--out", default=os.environ.get("OUT") or "device_check_out", help="report folder")
    p.add_argument("--seeds", type=int, default=3, help="seeds per recipe (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="tiny subsets and 1 epoch: proves the script works")
    p.add_argument("--notebooks", action="store_true", help="also grade the answer keys (needs TensorFlow)")
    p.add_argument("--budget", type=float, default=270, help="seconds for the whole check (default 270)")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    "command": "python scripts/device_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "quick": args.quick}
    info = probe_devices()
    backend = choose_backend(info)
    if args.notebooks or backend == "tensorflow":
        probe_tensorflow(info)
    report["machine"] = info
    for n in info["notes"]:
        log(n)
    log(f"devices: {info['devices'] or 'none probed'}")
    thresholds = load_thresholds()
    report["thresholds_files"] = sorted(thresholds)
    if not thresholds:
        log("no thresholds files yet (autograder/practicals/*/thresholds.json): accuracies are reported without verdict")
    ok = True
    if args.notebooks:
        if info["libraries"].get("tensorflow") is None:
            report["notebooks"] = []
            log("--notebooks: skipped, TensorFlow is not installed")
        else:
            report["notebooks"] = grade_answer_keys(args.budget / 2, thresholds)
            ok &= all(r.get("status") == "graded" and r.get("score") == r.get("max_score")
                      for r in report["notebooks"] if "skipped" not in r.get("status", ""))

    data = find_data(args.data)
    if backend is None or not installed("keras"):
        why = "no Keras 3" if not installed("keras") else "no backend (tensorflow, jax or torch)"
        report["reproduction"] = {"error": why}
        log(f"reproduction skipped: {why}")
        ok = False
    elif data is None:
        report["reproduction"] = {"error": f"Fashion-MNIST not found (give --data DIR with {', '.join(FASHION.values())})"}
        log(report["reproduction"]["error"])
        ok = False
    else:
        os.environ["KERAS_BACKEND"] = backend
        log(f"reproduction with Keras backend {backend}, data {data}")
        seeds = [1234 + i for i in range(1 if args.quick else args.seeds)]
        left = args.budget - (time.monotonic() - t0)
        report["reproduction"] = reproduce(data, seeds, args.quick, left, thresholds)
        for r in report["reproduction"]["runs"]:
            ok &= bool(r["runs"]) and all(c["passes"] is not False for c in r["vs_thresholds"])
    report["wall_s"] = round(time.monotonic() - t0, 1)
    report["verdict"] = ("smoke run only (quick: accuracies are not comparable)" if args.quick
                         else "all comparisons pass" if ok else "SOMETHING FAILED OR WAS SKIPPED: read the report")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "device_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "device_check.md").write_text(markdown(report))
    print(markdown(report))
    log(f"wrote {out / 'device_check.md'} and device_check.json")
    return 0 if (ok or args.quick) else 1


if __name__ == "__main__":
    sys.exit(main())
