"""Which reuters inputs a Dense net scores best on, on sweepflow's validation split; test unseen.

    .venv/bin/python bench/experiments/reuters_inputs.py [--seeds 3] [--variants a,b]

Rebuilds sweepflow's own reuters split (the same rows as `prepare`: checked against its labels),
then encodes the training and validation rows several ways from the whole vocabulary of the
training rows: the 10,000 most frequent words as 0/1 (what reuters.yaml does), the 10,000 words
scikit-learn's chi² ranks highest with the topic, log(1 + count), tf-idf. Each variant trains the
best single network of text_inputs.md (256 relu units, dropout 0.5, Adam 1e-3, batch 128, ≤ 30
epochs, patience 3) with each seed; prints the validation accuracy of each network and of the
mean of their probabilities. Figures: bench/results/experiments/reuters_inputs.md.
"""

from __future__ import annotations

import argparse
import dataclasses
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
ALL_WORDS = 40_000  # above reuters' 30,980 word indices (+3): every word is kept
PARAMS = {
    "layers": 1, "units_1": 256, "dropout": 0.5, "learning_rate": 1e-3,
    "optimizer": "adam", "batch_size": 128, "epochs": 30,
}  # fmt: skip


def split(cfg):
    """Sweepflow's reuters training/validation rows over the whole vocabulary, and their labels."""
    from sweepflow.data import sources
    from sweepflow.data.preprocess import count_matrix
    from sweepflow.data.split import encode_labels, split_rows, subsample

    d = cfg.data
    (x_all, y_all), _test, where, _ = sources.word_data("reuters", DATA, ALL_WORDS)
    keep = subsample(len(y_all), d.max_rows, d.split_seed)
    x_all, y_all = [x_all[i] for i in keep], np.asarray(y_all)[keep]
    y_all, _ = encode_labels(y_all, cfg.kind, where)
    tr, va = split_rows(len(y_all), d.val_fraction, d.split_seed, y_all, where)
    c = count_matrix(x_all, ALL_WORDS).astype(np.float32)
    return c[tr], y_all[tr], c[va], y_all[va]


def variants(c_tr, y_tr, c_va):
    """name → (train rows, validation rows) as dense float32, each encoding fitted on train only."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.feature_selection import chi2

    binary_tr, binary_va = (c_tr > 0).astype(np.float32), (c_va > 0).astype(np.float32)
    freq = np.arange(10_000)  # keras' indices are frequency ranks (+3): the 10,000 most frequent
    scores, _ = chi2(binary_tr, y_tr)
    top_chi2 = np.argsort(-np.nan_to_num(scores))[:10_000]
    tfidf = TfidfTransformer(sublinear_tf=True).fit(c_tr[:, freq])

    def dense(m) -> np.ndarray:
        return np.asarray(m.todense(), dtype=np.float32)

    return {
        "frequency 10k, 0/1": lambda: (dense(binary_tr[:, freq]), dense(binary_va[:, freq])),
        "chi2 10k, 0/1": lambda: (dense(binary_tr[:, top_chi2]), dense(binary_va[:, top_chi2])),
        "frequency 20k, 0/1": lambda: (dense(binary_tr[:, :20_000]), dense(binary_va[:, :20_000])),
        "frequency 10k, log(1+count)": lambda: (
            dense(c_tr[:, freq].log1p()),
            dense(c_va[:, freq].log1p()),
        ),
        "frequency 10k, tf-idf": lambda: (
            dense(tfidf.transform(c_tr[:, freq])),
            dense(tfidf.transform(c_va[:, freq])),
        ),
    }


def main() -> None:
    """Train each variant with each seed; print and save validation accuracies."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default="", help="comma-separated names (default: all)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/experiments/reuters_inputs.json"))
    args = ap.parse_args()
    from sweepflow.config.task import load_task
    from sweepflow.data.compact import predict_scores
    from sweepflow.data.prepare import prepare
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    cfg = load_task(str(ROOT / "search_spaces" / "reuters.yaml"), DATA)
    c_tr, y_tr, c_va, y_va = split(cfg)
    data = prepare(cfg, DATA)  # the rows sweepflow trains on: the split must be the same
    assert np.array_equal(data.y_train, y_tr) and np.array_equal(data.y_val, y_va)
    base = set(np.flatnonzero(np.asarray(data.x_train[0]).ravel()))
    assert base - {2} == set(np.flatnonzero(c_tr[0].toarray().ravel()[:10_000])) - {2}
    spec = model_spec(data)
    chosen = [v for v in args.variants.split(",") if v]
    results = {}
    for name, make in variants(c_tr, y_tr, c_va).items():
        if chosen and name not in chosen:
            continue
        x_tr, x_va = make()
        scores, singles = [], []
        for seed in range(args.seeds):
            fresh_state(2000 + seed)
            start = time.perf_counter()
            model = build_model(PARAMS, dataclasses.replace(spec, n_features=x_tr.shape[1]))
            got = fit(model, PARAMS, (x_tr, y_tr), (x_va, y_va), patience=3)
            scores.append(predict_scores(model, x_va))
            singles.append(float((scores[-1].argmax(1) == y_va.ravel()).mean()))
            mean = float((np.mean(scores, 0).argmax(1) == y_va.ravel()).mean())
            print(
                f"{name}: seed {seed} val_acc {singles[-1]:.4f} mean of {len(scores)} {mean:.4f}"
                f" (best epoch {got.best_epoch}, {time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        results[name] = {"single": singles, "mean_of_all": mean}
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
