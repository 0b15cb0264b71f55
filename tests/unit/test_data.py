"""Data prep: splits, train-only preprocessing, every built-in loader format, bad data."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pandas as pd
import pytest
from helpers import SMALL_SPACE, make_table, write_task
from scipy import sparse

from sweepflow.config.task import load_task, parse_task
from sweepflow.data.prepare import prepare
from sweepflow.data.preprocess import TextPreprocessor, from_dict, to_dict
from sweepflow.errors import DataError


def keras_task(name: str, kind: str, **data: object):
    return parse_task(
        {
            "task": name,
            "kind": kind,
            "space": SMALL_SPACE,
            "data": {"source": "keras", "name": name, **data},
        }
    )


def test_tabular_split_and_scaling_use_the_training_split_only(tmp_path):
    frame = make_table("regression", n=200)
    path = write_task(tmp_path, "t", "regression", frame, data={"scaling": "minmax"})
    cfg = load_task(str(path), tmp_path)
    data = prepare(cfg, tmp_path)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 200
    assert len(data.y_test) == 40  # test_fraction 0.2
    pre = data.preprocessor
    train_rows = frame.drop(columns="y").iloc[:0]  # columns only
    assert pre.numeric == ["x1", "x2"] and list(pre.categorical) == ["color"]
    assert list(train_rows.columns) == ["x1", "x2", "color"]
    # min-max fitted on train: train columns span exactly [0, 1]; val/test may fall outside
    assert np.allclose(data.x_train[:, :2].min(axis=0), 0) and np.allclose(
        data.x_train[:, :2].max(axis=0), 1
    )
    assert data.x_train.dtype == np.float32 and data.n_features == 2 + 3
    assert set(np.unique(data.x_train[:, 2:])) == {0.0, 1.0}
    # the raw test frame reproduces x_test through the saved (JSON) preprocessor
    again = from_dict(to_dict(pre)).transform(data.raw_test)
    np.testing.assert_array_equal(again, data.x_test)


def test_smooth_clip_bends_the_scaled_numeric_columns_only_and_travels_with_the_model(tmp_path):
    frame = make_table("regression", n=200)
    frame.loc[::7, "x1"] = frame["x1"] * 40  # outliers, some in every split
    plain_cfg = load_task(str(write_task(tmp_path / "a", "t", "regression", frame)), tmp_path)
    plain = prepare(plain_cfg, tmp_path / "a")
    path = write_task(tmp_path / "b", "t", "regression", frame, data={"clip": 3})
    cfg = load_task(str(path), tmp_path)
    assert cfg.data.clip == 3 and plain_cfg.data.clip is None  # a YAML with space: no clip
    data = prepare(cfg, tmp_path / "b")
    z = plain.x_train[:, :2]
    np.testing.assert_allclose(data.x_train[:, :2], z / np.sqrt(1 + (z / 3) ** 2), rtol=1e-5)
    assert np.abs(z).max() > 4 and np.abs(data.x_train[:, :2]).max() < 3
    np.testing.assert_array_equal(data.x_train[:, 2:], plain.x_train[:, 2:])  # one-hot as is
    again = from_dict(json.loads(json.dumps(to_dict(data.preprocessor))))
    np.testing.assert_array_equal(again.transform(data.raw_test), data.x_test)
    saved_before = {k: v for k, v in to_dict(plain.preprocessor).items() if k != "clip"}
    np.testing.assert_array_equal(from_dict(saved_before).transform(plain.raw_test), plain.x_test)


def test_classification_labels_and_stratified_splits(tmp_path):
    cfg = load_task(str(write_task(tmp_path, "b", "binary")), tmp_path)
    data = prepare(cfg, tmp_path)
    assert data.class_names == ["no", "yes"] and data.n_outputs == 1
    for y in (data.y_train, data.y_val, data.y_test):
        assert 0.3 < y.mean() < 0.7
    multi = prepare(load_task(str(write_task(tmp_path, "m", "multiclass")), tmp_path), tmp_path)
    assert multi.class_names == ["high", "low", "mid"] and multi.n_outputs == 3


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda f: f.drop(columns="y"), "target column 'y' not found"),
        (
            lambda f: f.assign(x2=f["x2"].astype(object).where(f.index != 7, "12,5kg")),
            "column 'x2' has non-numeric value '12,5kg'",
        ),
        (
            lambda f: f.assign(x1=f["x1"].where(f.index != 3, np.nan)),
            "column 'x1' has a missing value (NaN)",
        ),
        (lambda f: f.assign(y="yes"), "single class"),
        (lambda f: f.assign(y=np.arange(len(f)) % 3), "binary task needs exactly 2 classes"),
        (lambda f: f.assign(y=f["y"].where(f.index != 5, None)), "target has missing values"),
    ],
)
def test_bad_tables_give_one_clear_error_naming_the_file(tmp_path, mutate, words):
    table = mutate(make_table("binary"))
    path = write_task(tmp_path, "bad", "binary", table, data={"missing": "error"})
    with pytest.raises(DataError) as err:
        prepare(load_task(str(path), tmp_path), tmp_path)
    assert words in str(err.value)
    assert "bad.csv" in str(err.value)


def test_empty_and_missing_csv_files(tmp_path):
    path = write_task(tmp_path, "e", "regression")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="e.csv: the CSV file is empty"):
        prepare(load_task(str(path), tmp_path), tmp_path)
    (tmp_path / "e.csv").unlink()
    with pytest.raises(DataError, match="CSV file not found: looked for .*e.csv"):
        prepare(load_task(str(path), tmp_path), tmp_path / "elsewhere")


def test_reuters_npz_in_keras_format(tmp_path):
    rng = np.random.default_rng(0)
    seqs = np.empty(60, dtype=object)
    for i in range(60):
        seqs[i] = rng.integers(1, 30, size=rng.integers(3, 12)).tolist()
    labels = np.arange(60) % 4
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    np.savez(tmp_path / "keras" / "datasets" / "reuters.npz", x=seqs, y=labels)
    data = prepare(keras_task("reuters", "multiclass", num_words=20), tmp_path)
    assert data.kind == "multiclass" and data.class_names == ["0", "1", "2", "3"]
    assert data.x_train.shape[1] == 20 and data.x_train.dtype == np.uint8
    assert len(data.y_train) + len(data.y_val) == 48 and len(data.y_test) == 12
    assert set(np.unique(data.x_train)) <= {0, 1}
    assert list(data.raw_test.columns) == ["tokens"]
    # keras' encoding: start char 1 always set, indices shifted by 3, ≥ num_words → oov (2)
    # the test rows are kept sparse (read in batches), equal to the dense encoding
    assert sparse.issparse(data.x_test) and data.x_test.dtype == np.uint8
    dense = data.x_test.toarray()
    assert dense[:, 1].all()
    np.testing.assert_array_equal(data.preprocessor.transform(data.raw_test["tokens"]), dense)


def test_log_count_inputs_hold_log1p_of_each_words_count_and_round_trip(tmp_path):
    from sweepflow.data.compact import is_compact, predict_scores
    from sweepflow.data.preprocess import LOG_COUNT_STEPS
    from sweepflow.model.network import build_model, fresh_state
    from sweepflow.model.trial import model_spec

    seqs = np.empty(40, dtype=object)
    for i in range(40):
        seqs[i] = [5] * (i % 4 + 1) + [6, 40 + i]  # word 5 (index 8) repeated 1-4 times
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    np.savez(tmp_path / "keras" / "datasets" / "reuters.npz", x=seqs, y=np.arange(40) % 2)
    task = keras_task("reuters", "multiclass", num_words=20, term_values="log_count")
    data = prepare(task, tmp_path)
    binary = prepare(keras_task("reuters", "multiclass", num_words=20), tmp_path)
    assert binary.feature_scale is None and data.preprocessor.values == "log_count"
    assert is_compact(data.x_train) and data.x_train.dtype == np.uint8  # binary's memory
    np.testing.assert_array_equal(data.x_train > 0, binary.x_train > 0)  # the same terms
    # what the network sees: the uint8 steps times its constant input scale
    seen = data.x_train * data.feature_scale
    np.testing.assert_allclose(data.feature_scale, 1 / LOG_COUNT_STEPS)
    repeats = np.round(np.expm1(seen[:, 8])).astype(int)
    assert set(repeats) == {1, 2, 3, 4}
    np.testing.assert_allclose(seen[:, 8], np.log1p(repeats), atol=0.5 / LOG_COUNT_STEPS)
    # start char (1) and the oov slot (2: one word past num_words per text) once each
    np.testing.assert_allclose(seen[:, [1, 2, 9]], np.log(2), atol=0.5 / LOG_COUNT_STEPS)
    # sparse uint8 test rows equal the dense encoding, survive to_dict, and predict in batches
    assert sparse.issparse(data.x_test) and data.x_test.dtype == np.uint8
    again = from_dict(to_dict(data.preprocessor))
    np.testing.assert_array_equal(again.transform(data.raw_test["tokens"]), data.x_test.toarray())
    fresh_state(0)
    params = {"layers": 1, "units_1": 4, "optimizer": "adam", "learning_rate": 1e-3}
    model = build_model(params, model_spec(data))
    many = sparse.vstack([data.x_test] * 300).tocsr()  # 2,400 rows: several predict batches
    np.testing.assert_allclose(
        predict_scores(model, many), predict_scores(model, many.toarray()), rtol=1e-5
    )
    from sweepflow.evaluate.baselines import fit_baselines  # the log counts, sparse

    assert set(fit_baselines(data).metrics) == {"linear"}  # HistGB skips text
    plain = build_model(params, model_spec(binary))  # the same weights without the scale
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(
        predict_scores(model, data.x_train), predict_scores(plain, seen), rtol=1e-5, atol=1e-6
    )


def test_term_values_are_checked_and_only_for_text_datasets():
    from sweepflow.errors import ConfigError

    with pytest.raises(ConfigError, match="'data.term_values': must be one of"):
        keras_task("reuters", "multiclass", term_values="counts")
    with pytest.raises(ConfigError, match="'data.term_values': applies to a text dataset"):
        keras_task("fashion_mnist", "multiclass", term_values="log_count")


def _write_reviews(root, split, texts):
    for label, items in texts.items():
        folder = root / "aclImdb" / split / label
        folder.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(items):
            (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(text)


def test_imdb_prefers_the_raw_acl_imdb_folder_and_learns_vocab_from_train_only(tmp_path):
    good = ["a great film<br />great acting", "wonderful and great", "great fun, loved it"] * 4
    bad = ["a dull film", "boring and dull<br />awful", "awful plot, dull"] * 4
    _write_reviews(tmp_path, "train", {"pos": good, "neg": bad})
    _write_reviews(tmp_path, "test", {"pos": ["great zeitgeist"], "neg": ["dull zeitgeist"]})
    data = prepare(keras_task("imdb", "binary", num_words=8, val_fraction=0.25), tmp_path)
    vocab = data.preprocessor.vocabulary
    assert len(vocab) == 8 and "great" in vocab and "dull" in vocab
    assert "zeitgeist" not in vocab and "br" not in vocab  # test-only word; HTML break stripped
    assert data.raw_test["text"].tolist() == ["dull zeitgeist", "great zeitgeist"]
    assert data.y_test.tolist() == [0, 1] and data.x_train.dtype == np.uint8
    assert sparse.issparse(data.x_test) and data.x_test.dtype == np.uint8
    expected = data.preprocessor.transform(data.raw_test["text"])
    assert expected.sum() == 2 and (data.x_test.toarray() == expected).all()  # "great", "dull"
    assert data.origin.endswith("aclImdb")


def test_nb_text_weights_come_from_the_training_split_and_favour_each_class_words(tmp_path):
    good = ["a great film<br />great acting", "wonderful and great", "great fun, loved it"] * 4
    bad = ["a dull film", "boring and dull<br />awful", "awful plot, dull"] * 4
    _write_reviews(tmp_path, "train", {"pos": good, "neg": bad})
    _write_reviews(tmp_path, "test", {"pos": ["dull dull"] * 5, "neg": ["great great"] * 5})
    task = keras_task("imdb", "binary", num_words=8, val_fraction=0.25, text_weights="nb")
    data = prepare(task, tmp_path)
    assert prepare(keras_task("imdb", "binary", num_words=8), tmp_path).feature_scale is None
    vocab, ratio = data.preprocessor.vocabulary, data.feature_scale
    assert ratio.shape == (8,) and ratio.dtype == np.float32
    assert ratio[vocab.index("great")] > 1 and ratio[vocab.index("dull")] < -1
    assert abs(ratio[vocab.index("film")]) < 0.5  # in one review of each class
    # the formula on the training rows only (the test split, with reversed words, is unseen)
    x, y = data.x_train.astype(float), data.y_train
    p, q = x[y == 1].sum(0) + 1, x[y == 0].sum(0) + 1
    np.testing.assert_allclose(ratio, np.log(p / p.sum()) - np.log(q / q.sum()), rtol=1e-5)


def test_chi2_terms_are_the_training_terms_most_tied_to_the_label(tmp_path):
    from scipy import sparse
    from sklearn.feature_selection import chi2

    good = ["a great film", "great and fun", "loved it, a film", "great fun"] * 3
    bad = ["a dull film", "dull and boring", "boring, a film", "dull plot"] * 3
    _write_reviews(tmp_path, "train", {"pos": good, "neg": bad})
    _write_reviews(tmp_path, "test", {"pos": ["zeitgeist zeitgeist"], "neg": ["zeitgeist"]})
    task = keras_task("imdb", "binary", num_words=4, ngrams=2, select_terms="chi2")
    data = prepare(task, tmp_path)
    frequent = prepare(keras_task("imdb", "binary", num_words=4, ngrams=2), tmp_path)
    vocab = data.preprocessor.vocabulary
    assert {"a", "film", "a film"} & set(frequent.preprocessor.vocabulary)  # frequent, no signal
    assert not {"a", "film", "a film", "and", "zeitgeist"} & set(vocab)
    assert {"great", "dull"} <= set(vocab)
    # the same ranking as scikit-learn's chi2 on the training rows' 0/1 term matrix
    pre = TextPreprocessor.fit(data.raw_train["text"], 10**6, ngrams=2)  # every term
    rows = [pre.terms(t) for t in data.raw_train["text"]]
    col = {t: i for i, t in enumerate(pre.vocabulary)}
    pairs = {(r, col[t]) for r, terms in enumerate(rows) for t in terms}
    i, j = zip(*pairs, strict=True)
    x = sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(len(rows), len(col)))
    df = np.asarray(x.sum(0)).ravel()
    scores = dict(zip(pre.vocabulary, chi2(x, data.y_train)[0], strict=True))
    kept = [t for t in pre.vocabulary if df[col[t]] >= 2]
    assert min(scores[t] for t in vocab) >= max(scores[t] for t in kept if t not in vocab)


def test_chi2_term_selection_refuses_cv():
    from sweepflow.errors import ConfigError

    raw = {
        "task": "imdb",
        "kind": "binary",
        "space": SMALL_SPACE,
        "data": {"source": "keras", "name": "imdb", "select_terms": "chi2"},
        "cv": 3,
    }
    with pytest.raises(ConfigError, match="data.select_terms"):
        parse_task(raw)


def test_nb_ratios_are_the_same_in_row_chunks(monkeypatch):
    from sweepflow.data import weights

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 2, size=(50, 7), dtype=np.uint8), rng.integers(0, 2, size=50)
    whole = weights.nb_ratios(x, y)
    monkeypatch.setattr(weights, "_CHUNK", 6)
    np.testing.assert_allclose(weights.nb_ratios(x, y), whole, rtol=1e-6)


@pytest.mark.parametrize(
    ("kind", "extra", "why"),
    [("multiclass", {}, "this task is multiclass"), ("binary", {"cv": 3}, "cv folds")],
)
def test_nb_text_weights_refuse_tasks_they_do_not_fit(kind, extra, why):
    from sweepflow.errors import ConfigError

    raw = {
        "task": "imdb",
        "kind": kind,
        "space": SMALL_SPACE,
        "data": {"source": "keras", "name": "imdb", "text_weights": "nb"},
        **extra,
    }
    with pytest.raises(ConfigError, match=f"data.text_weights.*{why}"):
        parse_task(raw)
    raw["data"] = {"source": "keras", "name": "boston_housing", "text_weights": "nb"}
    with pytest.raises(ConfigError, match="data.text_weights.*text dataset"):
        parse_task(raw)


def test_multi_hot_is_compact_and_equals_the_dense_encoding():
    pre = TextPreprocessor(["good", "bad", "film"])
    texts = ["good good film", "bad", "", "unknown words only"]
    dense = np.array([[1.0 if w in t.split() else 0.0 for w in pre.vocabulary] for t in texts])
    out = pre.transform(texts)
    assert out.dtype == np.uint8 and out.nbytes == dense.size
    np.testing.assert_array_equal(out.astype(np.float64), dense)


def _idx(path, magic, arr):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_from_idx_files(tmp_path):
    folder = tmp_path / "keras" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 10)):
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", 2051, rng.integers(0, 256, (n, 28, 28)))
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 2049, np.arange(n) % 10)
    data = prepare(keras_task("fashion_mnist", "multiclass"), tmp_path)
    assert data.x_train.shape == (40, 784) and data.x_test.shape == (10, 784)
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert data.raw_test.shape == (10, 28, 28) and len(data.class_names) == 10


def test_boston_housing_npz_standardised_with_train_statistics(tmp_path):
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(5, 2, size=(100, 13))
    np.savez(tmp_path / "keras" / "datasets" / "boston_housing.npz", x=x, y=x[:, 0] * 3)
    data = prepare(keras_task("boston_housing", "regression", scaling="standard"), tmp_path)
    assert len(data.y_test) == 20 and data.n_features == 13
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    assert isinstance(data.raw_test, pd.DataFrame) and "CRIM" in data.raw_test.columns


@pytest.mark.parametrize(
    ("name", "kind", "missing"),
    [
        ("imdb", "binary", "imdb.npz (or the raw aclImdb/ folder)"),
        ("reuters", "multiclass", "reuters.npz"),
        ("boston_housing", "regression", "boston_housing.npz"),
        ("fashion_mnist", "multiclass", "train-labels-idx1-ubyte.gz"),
    ],
)
def test_empty_data_folder_offline_says_which_file_and_where(tmp_path, name, kind, missing):
    with pytest.raises(DataError) as err:
        prepare(keras_task(name, kind), tmp_path)
    message = str(err.value)
    assert f"put {missing}" in message and "in one of" in message
    assert str(tmp_path / "keras" / "datasets") in message
    assert "SWEEPFLOW_OFFLINE" in message


def test_multi_hot_sparse_equals_dense_and_predictions_batch_through_it():
    from sweepflow.data.compact import is_compact, predict_scores
    from sweepflow.data.preprocess import multi_hot
    from sweepflow.model.network import ModelSpec, build_model, fresh_state

    rows = [[0, 3, 3, 7], [], [9, 9, 9] * 100, [1]]  # repeats (300 of one index) count once
    dense, csr = multi_hot(rows, 10), multi_hot(rows, 10, as_sparse=True)
    assert sparse.issparse(csr) and csr.dtype == np.uint8 and is_compact(csr)
    np.testing.assert_array_equal(csr.toarray(), dense)
    assert dense[2, 9] == 1 and dense.sum() == 5
    fresh_state(0)
    model = build_model(
        {"layers": 1, "units_1": 4, "optimizer": "adam", "learning_rate": 1e-3},
        ModelSpec("binary", 10),
    )
    many = sparse.vstack([csr] * 700).tocsr()  # 2,800 rows: several predict batches
    np.testing.assert_allclose(
        predict_scores(model, many), predict_scores(model, many.toarray()), rtol=1e-6
    )
