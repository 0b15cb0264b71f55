"""Validation evidence for the text tasks' inputs (imdb NB weights, reuters widths); test unseen.

    .venv/bin/python bench/experiments/text_inputs.py ceiling         # linear / NB-LR by vocab
    .venv/bin/python bench/experiments/text_inputs.py select          # which 20,000 terms
    .venv/bin/python bench/experiments/text_inputs.py nb-net 20000    # Dense net ± NB weights
    .venv/bin/python bench/experiments/text_inputs.py ensemble STORE  # best params, 1 vs 3/5 seeds
    .venv/bin/python bench/experiments/text_inputs.py reuters 10000,20000

`ceiling` and `nb-net` split the 25,000 aclImdb training reviews 20,000 / 5,000 themselves
(scikit-learn's CountVectorizer with sweepflow's tokenizer); `ensemble` and `reuters` use
sweepflow's own split and code (prepare, build_model, fit). Each prints one line per fit; the
figures of the runs are in bench/results/experiments/text_inputs.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
DATA = Path(os.environ.get("SWEEPFLOW_DATA_DIR", ROOT.parent / "shared" / "data"))


def imdb_split() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The aclImdb training texts, labels, and a seeded 20,000 / 5,000 split of their rows."""
    from sweepflow.data.sources import _read_acl_imdb

    (texts, y), _ = _read_acl_imdb(DATA / "aclImdb")
    idx = np.random.default_rng(0).permutation(len(texts))
    return list(texts), np.asarray(y), idx[:20000], idx[20000:]


def bag(texts: list[str], tr: np.ndarray, va: np.ndarray, n: int | None, min_df: int = 1):
    """Binary words + word pairs (the n most frequent in the training rows; None: all)."""
    from sklearn.feature_extraction.text import CountVectorizer

    from sweepflow.data.preprocess import tokenize

    vec = CountVectorizer(
        tokenizer=tokenize,
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, 2),
        binary=True,
        max_features=n,
        min_df=min_df,
        dtype=np.float32,
    )
    return vec.fit_transform([texts[i] for i in tr]), vec.transform([texts[i] for i in va])


def ceiling() -> None:
    """Logistic regression with and without NB scaling, by vocabulary size."""
    from sklearn.linear_model import LogisticRegression

    from sweepflow.data.weights import nb_ratios

    texts, y, tr, va = imdb_split()
    for n in (20000, 50000, 100000, 300000):
        x_tr, x_va = bag(texts, tr, va, n)
        r = nb_ratios(x_tr.toarray(), y[tr])
        out = []
        for c in (0.1, 0.3, 1.0):
            model = LogisticRegression(C=c, max_iter=2000).fit(x_tr, y[tr])
            out.append(f"LR C={c}: {model.score(x_va, y[va]):.4f}")
        for c in (0.1, 1.0):
            model = LogisticRegression(C=c, max_iter=2000).fit(x_tr.multiply(r).tocsr(), y[tr])
            out.append(f"NBLR C={c}: {model.score(x_va.multiply(r).tocsr(), y[va]):.4f}")
        print(n, "; ".join(out), flush=True)


def select() -> None:
    """NB-scaled logistic regression on 20,000 / 50,000 terms kept by frequency, chi² or |r|·√f."""
    from sklearn.feature_selection import chi2
    from sklearn.linear_model import LogisticRegression

    texts, y, tr, va = imdb_split()
    x_tr, x_va = (m.tocsc() for m in bag(texts, tr, va, None, min_df=2))
    print("terms in >= 2 training reviews:", x_tr.shape[1], flush=True)
    freq = np.asarray(x_tr.sum(0)).ravel()
    p = np.asarray(x_tr[y[tr] == 1].sum(0)).ravel() + 1
    q = np.asarray(x_tr[y[tr] == 0].sum(0)).ravel() + 1
    r = np.log((p / p.sum()) / (q / q.sum()))
    rankings = {
        "freq": freq,
        "chi2": np.nan_to_num(chi2(x_tr, y[tr])[0]),
        "|r|*sqrt(freq)": np.abs(r) * np.sqrt(freq),
    }
    for n in (20000, 50000):
        for name, score in rankings.items():
            keep = np.argsort(-score)[:n]
            scale = r[keep].astype(np.float32)
            a, b = x_tr[:, keep].tocsr().multiply(scale), x_va[:, keep].tocsr().multiply(scale)
            res = []
            for c in (0.1, 1.0):
                model = LogisticRegression(C=c, max_iter=3000).fit(a.tocsr(), y[tr])
                res.append(f"NBLR C={c} {model.score(b.tocsr(), y[va]):.4f}")
            print(n, name, "; ".join(res), flush=True)


def nb_net(n: int, units: int = 32) -> None:
    """One hidden layer (relu, dropout 0.3), Adam, batch 256, early stopping: plain / nb / |nb|."""
    import keras

    from sweepflow.data.weights import nb_ratios

    texts, y, tr, va = imdb_split()
    x_tr, x_va = (m.toarray() for m in bag(texts, tr, va, n))
    r = nb_ratios(x_tr, y[tr])
    for name, scale in (("plain", None), ("nb", r), ("nb_abs", np.abs(r))):
        for lr in (3e-4, 1e-3):
            keras.utils.set_random_seed(0)
            inputs = keras.Input((n,))
            h = inputs if scale is None else keras.layers.Rescaling(scale)(inputs)
            h = keras.layers.Dropout(0.3)(keras.layers.Dense(units, activation="relu")(h))
            model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
            model.compile(keras.optimizers.Adam(lr), "binary_crossentropy", metrics=["accuracy"])
            stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
            start = time.perf_counter()
            acc = model.fit(
                x_tr,
                y[tr],
                validation_data=(x_va, y[va]),
                epochs=10,
                batch_size=256,
                verbose=0,
                callbacks=[stop],
            ).history["val_accuracy"]
            print(
                n,
                units,
                name,
                lr,
                f"best val_acc {max(acc):.4f} at epoch {int(np.argmax(acc)) + 1}",
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


def ensemble(store: str, yaml: str = str(ROOT / "search_spaces" / "imdb.yaml")) -> None:
    """The study's best params trained with 5 seeds on train: each, and the running mean."""
    import optuna

    from sweepflow.config.task import load_task
    from sweepflow.data.compact import predict_scores
    from sweepflow.data.prepare import prepare
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    study = optuna.load_study(study_name="imdb", storage=f"sqlite:///{store}/optuna.db")
    params = {"epochs": 10, **study.best_trial.params}
    print("best", study.best_trial.number, params, study.best_value)
    data = prepare(load_task(yaml, DATA), DATA)
    spec, scores = model_spec(data), []
    for seed in range(5):
        fresh_state(1000 + seed)
        model = build_model(params, spec)
        fit(model, params, (data.x_train, data.y_train), (data.x_val, data.y_val), patience=2)
        scores.append(predict_scores(model, data.x_val).ravel())

        def acc(ss: list[np.ndarray]) -> float:
            return float(((np.mean(ss, 0) > 0.5) == data.y_val.ravel()).mean())

        print(seed, f"single {acc([scores[-1]]):.4f}", f"mean of {len(scores)} {acc(scores):.4f}")


def reuters(words: str) -> None:
    """Dense widths / dropout / depth on sweepflow's reuters split, by vocabulary size."""
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    cfg = load_task(str(ROOT / "search_spaces" / "reuters.yaml"), DATA)
    for n in map(int, words.split(",")):
        data = prepare(
            dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_words=n)), DATA
        )
        for units, dropout, layers in (
            (256, 0.5, 1),
            (512, 0.5, 1),
            (1024, 0.5, 1),
            (512, 0.3, 1),
            (512, 0.5, 2),
        ):
            fresh_state(0)
            params = {
                "layers": layers,
                **{f"units_{i}": units for i in range(1, layers + 1)},
                "dropout": dropout,
                "learning_rate": 1e-3,
                "optimizer": "adam",
                "batch_size": 128,
                "epochs": 30,
            }
            start = time.perf_counter()
            model = build_model(params, model_spec(data))
            got = fit(
                model, params, (data.x_train, data.y_train), (data.x_val, data.y_val), patience=3
            )
            print(
                n,
                units,
                dropout,
                layers,
                f"val_acc {got.metrics_at_best()['val_accuracy']:.4f}",
                f"best epoch {got.best_epoch} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


def reuters_ensemble() -> None:
    """256 relu units, dropout 0.5 (reuters' best single net above) with 5 seeds: each, the mean."""
    from sweepflow.config.task import load_task
    from sweepflow.data.compact import predict_scores
    from sweepflow.data.prepare import prepare
    from sweepflow.model.network import build_model, fit, fresh_state
    from sweepflow.model.trial import model_spec

    data = prepare(load_task(str(ROOT / "search_spaces" / "reuters.yaml"), DATA), DATA)
    params = {
        "layers": 1, "units_1": 256, "dropout": 0.5, "learning_rate": 1e-3,
        "optimizer": "adam", "batch_size": 128, "epochs": 30,
    }  # fmt: skip
    scores = []
    for seed in range(5):
        fresh_state(2000 + seed)
        model = build_model(params, model_spec(data))
        fit(model, params, (data.x_train, data.y_train), (data.x_val, data.y_val), patience=3)
        scores.append(predict_scores(model, data.x_val))

        def acc(ss: list[np.ndarray]) -> float:
            return float((np.mean(ss, 0).argmax(1) == data.y_val.ravel()).mean())

        print(seed, f"single {acc([scores[-1]]):.4f}", f"mean of {len(scores)} {acc(scores):.4f}")


if __name__ == "__main__":
    what, *rest = sys.argv[1:] or ["ceiling"]
    {
        "ceiling": ceiling,
        "select": select,
        "nb-net": lambda n="20000": nb_net(int(n)),
        "ensemble": ensemble,
        "reuters": reuters,
        "reuters-ensemble": reuters_ensemble,
    }[what](*rest)
