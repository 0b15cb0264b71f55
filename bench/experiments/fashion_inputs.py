"""What lifts a Dense net on fashion_mnist, on sweepflow's validation split; test unseen.

    .venv/bin/python bench/experiments/fashion_inputs.py [--seeds 2] [--variants "a;b"]

One set of params like the default search's best trials (quality.json: 2 layers of ~300-700
units, Adam ~1e-3, batch 256, lr decay ~0.9; early stopping on val_accuracy, patience 6, ≤ 40
epochs), then one change at a time: batch norm, wider + more dropout, training on the training
rows plus their mirror images (a left-right flip: a shirt mirrored is still a shirt; also
scoring each validation image as the mean of it and its mirror): what the space key `mirror`
does. (A first `mirror`, a RandomFlip layer flipping each image or not at random, was run from
commit 3325b7c as `--variants "mirror layer, <= 80 epochs"`: mirror true, ≤ 80 epochs.)
Prints each network's validation accuracy and that of the mean of the seeds' probabilities.
Figures: bench/results/experiments/fashion_inputs.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
DATA = Path(os.environ.get("SWEEPFLOW_DATA_DIR", ROOT.parent / "shared" / "data"))
BASE = {
    "layers": 2, "units_1": 512, "units_2": 512, "dropout": 0.3, "learning_rate": 1e-3,
    "optimizer": "adam", "batch_size": 256, "lr_decay": 0.9, "epochs": 40,
}  # fmt: skip
VARIANTS = {  # name → (params changed, train on mirrors too, or "shift N": mirrors, shifted)
    "base": ({}, False),
    "batch norm": ({"batch_norm": True}, False),
    "2 x 1024 dropout 0.4": ({"units_1": 1024, "units_2": 1024, "dropout": 0.4}, False),
    "3 layers of 512": ({"layers": 3, "units_3": 512}, False),
    "+ mirrored rows": ({}, True),  # also prints the score with mirrored scoring
    # a longer schedule: the mirrored runs peaked at epochs 37-39 of 40; 0.93^60 ~ 0.9^40
    "+ mirrored rows, 60 epochs, lr x 0.93": ({"epochs": 60, "lr_decay": 0.93}, True),
    "2 x 1024 dropout 0.4 + mirrored rows": (
        {"units_1": 1024, "units_2": 1024, "dropout": 0.4},
        True,
    ),
    # every image and its mirror, each moved by up to 1 pixel at random every epoch
    "+ mirrored rows, shifted <= 1 px": ({}, "shift 1"),
}


class Shifted:
    """Flattened 28 × 28 images, each moved by a random offset of up to `pixels` in x and y
    (zeros shifted in) every time it is indexed: a new translation every epoch, no copy."""

    def __init__(self, x: object, pixels: int, seed: int) -> None:
        self.x, self.pixels, self.rng = x, pixels, np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, rows: object) -> np.ndarray:
        block = np.asarray(self.x[rows]).reshape(-1, 28, 28)
        p, n = self.pixels, len(block)
        padded = np.pad(block, ((0, 0), (p, p), (p, p)))
        dy, dx = self.rng.integers(0, 2 * p + 1, size=(2, n))
        ys = dy[:, None] + np.arange(28)
        xs = dx[:, None] + np.arange(28)
        out = padded[np.arange(n)[:, None, None], ys[:, :, None], xs[:, None, :]]
        return out.reshape(n, 28 * 28)


def feed_views_in_batches() -> None:
    """Let sweepflow's `fit` feed `Shifted` views through CompactBatches, as it feeds its own
    `Mirrored` views (an experiment: the space has no shift key)."""
    from sweepflow.model import network

    compact = network.is_compact
    network.is_compact = lambda x: (
        (isinstance(x, list) and all(isinstance(p, Shifted) for p in x)) or compact(x)
    )


def mirror(x: np.ndarray) -> np.ndarray:
    """Flattened 28 × 28 images flipped left to right."""
    return x.reshape(-1, 28, 28)[:, :, ::-1].reshape(len(x), -1)


def main() -> None:
    """Train each variant with each seed; print and save validation accuracies."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds from this one (parallel)")
    ap.add_argument("--variants", default="", help="names separated by ; (default: all)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/experiments/fashion_inputs.json"))
    args = ap.parse_args()
    from sweepflow.config.monitor import Monitor
    from sweepflow.config.task import load_task
    from sweepflow.data.compact import predict_scores
    from sweepflow.data.prepare import prepare
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    data = prepare(load_task(str(ROOT / "search_spaces" / "fashion_mnist.yaml"), DATA), DATA)
    spec, y_va = model_spec(data), data.y_val.ravel()
    x_tr, y_tr, x_va = data.x_train, data.y_train, data.x_val
    chosen = [v for v in args.variants.split(";") if v]
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}  # other variants' runs stay
    for name, (change, mirrored) in VARIANTS.items():
        if chosen and name not in chosen:
            continue
        params = {**BASE, **change}
        scores, singles, both = [], [], []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            train = ([x_tr, mirror(x_tr)], [y_tr, y_tr]) if mirrored else (x_tr, y_tr)
            if isinstance(mirrored, str):  # "shift N": both blocks moved up to N pixels
                feed_views_in_batches()
                px = int(mirrored.split()[1])
                views = [Shifted(x, px, 7000 + 10 * seed + i) for i, x in enumerate(train[0])]
                train = (views, train[1])
            fresh_state(3000 + seed)
            start = time.perf_counter()
            model = build_model(params, spec)
            got = fit(
                model, params, train, (x_va, data.y_val), patience=6,
                monitor=Monitor("val_accuracy", "max"),
            )  # fmt: skip
            s = predict_scores(model, x_va)
            scores.append(s)
            singles.append(float((s.argmax(1) == y_va).mean()))
            mean = float((np.mean(scores, 0).argmax(1) == y_va).mean())
            tta = ""
            if mirrored:  # each validation image scored as the mean of it and its mirror
                both.append((s + predict_scores(model, mirror(x_va))) / 2)
                tta = f", mirrored scoring {float((both[-1].argmax(1) == y_va).mean()):.4f}"
            print(
                f"{name}: seed {seed} val_acc {singles[-1]:.4f} mean of {len(scores)} {mean:.4f}"
                f"{tta}"
                f" (best epoch {got.best_epoch}/{got.epochs_run}, "
                f"{time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        if args.first_seed:  # a run of later seeds (side by side): keyed by its first seed
            name = f"{name} (seeds from {args.first_seed})"
        results[name] = {"single": singles, "mean_of_all": mean}
        if both:
            results[name]["mirrored_scoring"] = [float((b.argmax(1) == y_va).mean()) for b in both]
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
