"""What a user's first alternatives score on each built-in task's own split (quality.md's column).

For every task: sweepflow's baselines (evaluate/baselines.py: Ridge / logistic regression and
HistGradientBoosting, default settings, fitted on train+val, scored once on test) on exactly the
network's rows and preprocessing. For imdb also NBSVM (Wang & Manning 2012): logistic regression
on binary words + word pairs scaled by their naive-Bayes log-count ratios, on the task's
20,000 terms (imdb.yaml's select_terms) and on every term of the training texts; its C is
chosen on the validation split (train rows only), then it is refitted on train+val.
Writes bench/results/baselines.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
from common import ROOT, data_dir, load_json, save_json

sys.path.insert(0, str(ROOT / "src"))

TASKS = ("carseats", "boston_housing", "fashion_mnist", "imdb", "reuters")
HEADLINE = {"carseats": "test_mae", "boston_housing": "test_mae"}  # others: test_accuracy


def nb_scaled(x_fit, y_fit, *others) -> list:
    """x_fit and the other matrices as sparse float rows scaled by x_fit's NB ratios."""
    from scipy import sparse

    from sweepflow.data.weights import nb_ratios

    scale = sparse.diags(nb_ratios(x_fit, y_fit))
    return [sparse.csr_matrix(x, dtype=np.float32) @ scale for x in (x_fit, *others)]


def nbsvm(x_fit, y_fit, x_val, y_val, cs=(0.1, 0.3, 1.0)) -> tuple[float, float]:
    """NB-scaled logistic regression: (C chosen on validation, its validation accuracy)."""
    from sklearn.linear_model import LogisticRegression

    fit, val = nb_scaled(x_fit, y_fit, x_val)
    scores = {
        c: LogisticRegression(C=c, max_iter=3000).fit(fit, y_fit).score(val, y_val) for c in cs
    }
    best = max(scores, key=scores.get)
    return best, scores[best]


def nbsvm_test(x_fit, y_fit, x_test, y_test, c: float) -> float:
    """NBSVM with a given C fitted on x_fit (ratios from x_fit too), accuracy on x_test."""
    from sklearn.linear_model import LogisticRegression

    fit, test = nb_scaled(x_fit, y_fit, x_test)
    return float(LogisticRegression(C=c, max_iter=3000).fit(fit, y_fit).score(test, y_test))


def imdb_nbsvm(cfg, data) -> dict[str, float]:
    """NBSVM on sweepflow's 20,000 terms and on the full vocabulary of the same split."""
    from sklearn.feature_extraction.text import CountVectorizer

    from sweepflow.data import sources
    from sweepflow.data.preprocess import tokenize
    from sweepflow.data.split import split_rows

    out = {}
    x_all = np.concatenate([data.x_train, data.x_val])
    y_all = np.concatenate([data.y_train, data.y_val])
    c, _ = nbsvm(data.x_train, data.y_train, data.x_val, data.y_val)
    out["NBSVM (the task's 20,000 terms)"] = nbsvm_test(x_all, y_all, data.x_test, data.y_test, c)
    (texts, labels), (test_texts, y_test), _, _ = sources.word_data("imdb", data_dir(), 0)
    d = cfg.data
    tr, va = split_rows(len(labels), d.val_fraction, d.split_seed, labels, "imdb")
    texts = list(texts)
    assert (labels[tr] == data.y_train).all() and (labels[va] == data.y_val).all()

    def vectorizer() -> CountVectorizer:
        return CountVectorizer(
            tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=(1, 2), binary=True
        )

    vec = vectorizer()
    fit = vec.fit_transform([texts[i] for i in tr])
    c, _ = nbsvm(fit, labels[tr], vec.transform([texts[i] for i in va]), labels[va])
    full = vectorizer()
    x_fit = full.fit_transform([texts[i] for i in np.concatenate([tr, va])])
    x_test = full.transform(list(test_texts))
    y_fit = np.concatenate([labels[tr], labels[va]])
    out[f"NBSVM (all {x_fit.shape[1]:,} terms)"] = nbsvm_test(x_fit, y_fit, x_test, y_test, c)
    return out


def main() -> int:
    """Fit each task's baselines on its split and save their headline test metric."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = parser.parse_args()
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.evaluate.baselines import fit_baselines

    found = load_json("baselines") or {}
    for task in args.tasks:
        start = time.perf_counter()
        cfg = load_task(str(ROOT / "search_spaces" / f"{task}.yaml"), data_dir())
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, text_weights="none"))
        data = prepare(cfg, data_dir())
        metric = HEADLINE.get(task, "test_accuracy")
        got = fit_baselines(data)
        row = {
            ("HistGB" if name == "hgb" else "linear"): ms[metric]
            for name, ms in got.metrics.items()
        }
        if task == "imdb":
            row.update(imdb_nbsvm(cfg, data))
        found[task] = row
        save_json("baselines", found)
        print(task, row, f"{time.perf_counter() - start:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
