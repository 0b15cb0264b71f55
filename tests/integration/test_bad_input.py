"""Bad input, tried systematically: YAML loader, CSV loader and CLI each name the place, once."""

from __future__ import annotations

import copy
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import SMALL_SPACE, child_env, make_table, write_task

from sweepflow import cli
from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.errors import ConfigError, DataError, SweepflowError, UnknownTaskError

REPO = Path(__file__).resolve().parents[2]  # the repository root
DROP = object()  # a YAML value that removes the key


def base_task() -> dict:
    """A valid CSV binary task (as written by `write_task`)."""
    return {
        "task": "bad",
        "kind": "binary",
        "data": {"source": "csv", "path": "bad.csv", "target": "y"},
        "search": {"trials": 2, "seed": 1, "pruner": "none"},
        "training": {"patience": 2},
        "space": copy.deepcopy(SMALL_SPACE),
    }


def edited(changes: dict[str, object]) -> dict:
    """The base task with dotted keys set (or removed with DROP)."""
    spec = base_task()
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = spec
        for key in parents:
            node = node[key]
        if value is DROP:
            del node[last]
        else:
            node[last] = value
    return spec


S = "space"
# (case id, dotted changes to the base task, the field the error must name)
YAML_CASES: list[tuple[str, dict[str, object], str]] = [
    # top level: missing, misspelt, extra keys and wrong values
    ("kind-missing", {"kind": DROP}, "kind"),
    ("kind-unknown", {"kind": "ranking"}, "kind"),
    ("kind-wrong-type", {"kind": 3}, "kind"),
    ("top-key-misspelt", {"serach": {"trials": 2}}, "<top level>.serach"),
    ("top-key-extra", {"notes": "hi"}, "<top level>.notes"),
    ("data-missing", {"data": DROP}, "data"),
    ("task-name-spaces", {"task": "my task"}, "task"),
    ("task-name-wrong-type", {"task": ["a"]}, "task"),
    ("cv-too-small", {"cv": 1}, "cv"),
    ("cv-wrong-type", {"cv": "3"}, "cv"),
    # data:
    ("data-not-mapping", {"data": "bad.csv"}, "data"),
    ("data-source-missing", {"data.source": DROP}, "data.source"),
    ("data-source-unknown", {"data.source": "ftp"}, "data.source"),
    ("data-path-missing", {"data.path": DROP}, "data.path"),
    ("data-target-missing", {"data.target": DROP}, "data.target"),
    ("data-key-misspelt", {"data.taget": "y"}, "data.taget"),
    ("data-path-wrong-type", {"data.path": 123}, "data.path"),
    ("data-target-wrong-type", {"data.target": ["y"]}, "data.target"),
    ("data-url-wrong-type", {"data.url": 5}, "data.url"),
    ("data-scaling-unknown", {"data.scaling": "zscore"}, "data.scaling"),
    ("data-test-fraction-above-1", {"data.test_fraction": 1.5}, "data.test_fraction"),
    ("data-test-fraction-zero", {"data.test_fraction": 0}, "data.test_fraction"),
    ("data-val-fraction-string", {"data.val_fraction": "0.2"}, "data.val_fraction"),
    ("data-categorical-string", {"data.categorical": "color"}, "data.categorical"),
    ("data-log1p-string", {"data.log1p": "x1"}, "data.log1p"),
    ("data-log1p-numbers", {"data.log1p": [1, 2]}, "data.log1p"),
    ("data-clip-negative", {"data.clip": -1}, "data.clip"),
    ("data-clip-string", {"data.clip": "3"}, "data.clip"),
    (
        "data-clip-images",
        {"data": {"source": "keras", "name": "fashion_mnist", "clip": 3}},
        "data.clip",
    ),
    ("data-target-scaling-unknown", {"data.target_scaling": "log"}, "data.target_scaling"),
    ("data-target-scaling-binary", {"data.target_scaling": "standard"}, "data.target_scaling"),
    ("data-split-seed-float", {"data.split_seed": 1.5}, "data.split_seed"),
    ("data-split-seed-negative", {"data.split_seed": -1}, "data.split_seed"),
    ("data-max-rows-zero", {"data.max_rows": 0}, "data.max_rows"),
    ("data-num-words-zero", {"data.num_words": 0}, "data.num_words"),
    ("sklearn-name-unknown", {"data": {"source": "sklearn", "name": "mnist"}}, "data.name"),
    ("keras-name-missing", {"data": {"source": "keras"}}, "data.name"),
    ("keras-name-unknown", {"data": {"source": "keras", "name": "cifar10"}}, "data.name"),
    # search:
    ("search-not-mapping", {"search": ["optuna"]}, "search"),
    ("engine-unknown", {"search.engine": "hyperopt"}, "search.engine"),
    ("engine-wrong-type", {"search.engine": ["optuna"]}, "search.engine"),
    ("sampler-unknown", {"search.sampler": "bayes"}, "search.sampler"),
    ("pruner-unknown", {"search.pruner": "sometimes"}, "search.pruner"),
    ("tuner-unknown", {"search.tuner": "grid"}, "search.tuner"),
    ("trials-zero", {"search.trials": 0}, "search.trials"),
    ("trials-negative", {"search.trials": -3}, "search.trials"),
    ("trials-string", {"search.trials": "ten"}, "search.trials"),
    ("trials-float", {"search.trials": 2.5}, "search.trials"),
    ("trials-bool", {"search.trials": True}, "search.trials"),
    ("seed-string", {"search.seed": "abc"}, "search.seed"),
    ("timeout-zero", {"search.timeout": 0}, "search.timeout"),
    ("search-key-misspelt", {"search.trails": 3}, "search.trails"),
    ("seed-negative", {"search.seed": -1}, "search.seed"),
    ("seed-too-large", {"search.seed": 2**40}, "search.seed"),
    ("trials-huge", {"search.trials": 10**12}, "search.trials"),
    ("timeout-nan", {"search.timeout": float("nan")}, "search.timeout"),
    ("timeout-inf", {"search.timeout": float("inf")}, "search.timeout"),
    ("trial-cap-zero", {"search.trial_cap": 0}, "search.trial_cap"),
    ("trial-cap-above-one", {"search.trial_cap": 1.5}, "search.trial_cap"),
    ("epochs-huge", {f"{S}.epochs": 1.0e20}, "space.epochs"),
    ("layers-huge", {f"{S}.layers": {"type": "int", "min": 1, "max": 1000}}, "space.layers.max"),
    ("task-name-too-long", {"task": "t" * 300}, "task"),
    ("task-name-dots", {"task": "a.."}, "task"),
    ("task-name-trailing-dot", {"task": "model."}, "task"),
    ("baselines-not-bool", {"baselines": "yes"}, "baselines"),
    ("class-weight-unknown", {"training.class_weight": "auto"}, "training.class_weight"),
    ("class-weight-space-unknown", {f"{S}.class_weight": "heavy"}, "space.class_weight"),
    ("data-missing-unknown", {"data.missing": "drop"}, "data.missing"),
    ("data-drop-not-list", {"data.drop": "id"}, "data.drop"),
    ("data-sep-empty", {"data.sep": ""}, "data.sep"),
    ("data-encoding-unknown", {"data.encoding": "klingon-8"}, "data.encoding"),
    ("data-scaling-robust", {"data.scaling": "robust"}, "data.scaling"),
    # objective, training, retrain:
    ("metric-not-validation", {"objective": {"metric": "accuracy"}}, "objective.metric"),
    ("metric-of-another-kind", {"objective": {"metric": "val_mae"}}, "objective.metric"),
    ("metric-misspelt", {"objective": {"metric": "val_acuracy"}}, "objective.metric"),
    ("metric-macro-f1-binary", {"objective": {"metric": "val_macro_f1"}}, "objective.metric"),
    ("direction-unknown", {"objective": {"direction": "max"}}, "objective.direction"),
    ("objective-key-misspelt", {"objective": {"metrik": "val_loss"}}, "objective.metrik"),
    ("patience-zero", {"training.patience": 0}, "training.patience"),
    ("patience-negative", {"training.patience": -1}, "training.patience"),
    ("patience-string", {"training.patience": "5"}, "training.patience"),
    ("training-key-misspelt", {"training": {"patiance": 3}}, "training.patiance"),
    ("training-not-mapping", {"training": 5}, "training"),
    ("monitor-unknown", {"training.monitor": "val_accuracy"}, "training.monitor"),
    ("monitor-not-string", {"training.monitor": ["val_loss"]}, "training.monitor"),
    ("retrain-test-unknown", {"retrain": {"test": "ttest"}}, "retrain.test"),
    ("ensemble-zero", {"final": {"ensemble": 0}}, "final.ensemble"),
    ("ensemble-string", {"final": {"ensemble": "five"}}, "final.ensemble"),
    ("ensemble-members-unknown", {"final": {"members": "all"}}, "final.members"),
    ("final-key-misspelt", {"final": {"ensembel": 3}}, "final.ensembel"),
    # space:
    ("space-empty", {S: {}}, "space"),
    ("space-not-mapping", {S: ["layers"]}, "space"),
    ("space-required-missing", {f"{S}.learning_rate": DROP}, "space"),
    ("hyperparameter-misspelt", {f"{S}.learning_rat": 0.01}, "space.learning_rat"),
    ("lr-decay-zero", {f"{S}.lr_decay": 0}, "space.lr_decay"),
    (
        "lr-decay-above-one",
        {f"{S}.lr_decay": {"type": "float", "min": 0.9, "max": 1.1}},
        "space.lr_decay.max",
    ),
    ("int-min-above-max", {f"{S}.units": {"type": "int", "min": 32, "max": 8}}, "space.units"),
    (
        "float-min-above-max",
        {f"{S}.dropout": {"type": "float", "min": 0.3, "max": 0.1}},
        "space.dropout",
    ),
    (
        "log-float-min-zero",
        {f"{S}.dropout": {"type": "float", "min": 0.0, "max": 0.3, "log": True}},
        "space.dropout.min",
    ),
    (
        "log-lr-min-zero",
        {f"{S}.learning_rate": {"type": "float", "min": 0.0, "max": 0.1, "log": True}},
        "space.learning_rate.min",
    ),
    (
        "lr-negative-range",
        {f"{S}.learning_rate": {"type": "float", "min": -0.1, "max": 0.1}},
        "space.learning_rate.min",
    ),
    ("lr-fixed-zero", {f"{S}.learning_rate": 0}, "space.learning_rate"),
    ("lr-infinite", {f"{S}.learning_rate": float("inf")}, "space.learning_rate"),
    (
        "choice-empty",
        {f"{S}.optimizer": {"type": "choice", "values": []}},
        "space.optimizer.values",
    ),
    (
        "choice-not-list",
        {f"{S}.optimizer": {"type": "choice", "values": "adam"}},
        "space.optimizer.values",
    ),
    (
        "choice-duplicates",
        {f"{S}.batch_size": {"type": "choice", "values": [16, 16]}},
        "space.batch_size.values",
    ),
    ("optimizer-unknown", {f"{S}.optimizer": "adamw"}, "space.optimizer"),
    (
        "optimizer-as-range",
        {f"{S}.optimizer": {"type": "int", "min": 1, "max": 2}},
        "space.optimizer",
    ),
    ("type-unknown", {f"{S}.layers": {"type": "integer", "min": 1, "max": 2}}, "space.layers.type"),
    ("range-max-missing", {f"{S}.units": {"type": "int", "min": 4}}, "space.units.max"),
    ("range-min-string", {f"{S}.units": {"type": "int", "min": "8", "max": 16}}, "space.units.min"),
    ("range-key-misspelt", {f"{S}.units": {"type": "int", "mn": 4, "max": 16}}, "space.units"),
    (
        "int-step-zero",
        {f"{S}.units": {"type": "int", "min": 4, "max": 16, "step": 0}},
        "space.units.step",
    ),
    (
        "log-not-bool",
        {f"{S}.units": {"type": "int", "min": 4, "max": 16, "log": "yes"}},
        "space.units.log",
    ),
    ("fixed-without-value", {f"{S}.epochs": {"type": "fixed"}}, "space.epochs.value"),
    ("epochs-zero", {f"{S}.epochs": 0}, "space.epochs"),
    ("epochs-negative", {f"{S}.epochs": -5}, "space.epochs"),
    ("epochs-string", {f"{S}.epochs": "many"}, "space.epochs"),
    ("epochs-float", {f"{S}.epochs": 2.5}, "space.epochs"),
    ("layers-negative", {f"{S}.layers": -1}, "space.layers"),
    ("dropout-one", {f"{S}.dropout": 1.0}, "space.dropout"),
    ("grid-with-float-range", {"search.sampler": "grid"}, "space.dropout"),
    (
        "kt-hyperband-epoch-range",
        {
            "search.engine": "keras-tuner",
            f"{S}.epochs": {"type": "int", "min": 2, "max": 6},
        },
        "space.epochs",
    ),
]


def write_yaml(folder: Path, spec: object, name: str = "bad.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("changes", "field"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES]
)
def test_bad_task_yaml_names_file_and_field(tmp_path, changes, field):
    path = write_yaml(tmp_path, edited(changes))
    with pytest.raises(ConfigError) as err:
        load_task(str(path), tmp_path)
    assert err.value.field == field
    assert str(err.value).startswith(f"{path}: field '{field}': ")
    assert err.value.reason  # says why, not just where


@pytest.mark.parametrize(
    ("override", "field"),
    [({"engine": "hyperopt"}, "search.engine"), ({"trials": 0}, "search.trials")],
    ids=["override-engine-unknown", "override-trials-zero"],
)
def test_bad_overrides_name_the_field(tmp_path, override, field):
    cfg = load_task(str(write_yaml(tmp_path, base_task())), tmp_path)
    with pytest.raises(ConfigError) as err:
        cfg.with_overrides(**override)
    assert err.value.field == field and "bad.yaml" in str(err.value)


def _raw(text: str | bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "bad.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    return make


def _directory(folder: Path) -> Path:
    (folder / "bad.yaml").mkdir()
    return folder / "bad.yaml"


FILE_CASES = [
    ("empty-file", _raw(""), ConfigError, "empty"),
    ("only-comments", _raw("# nothing here\n"), ConfigError, "empty"),
    ("syntax-error", _raw("task: t\nkind: binary\nspace: {layers: [1, 2\n"), ConfigError, "line"),
    ("tab-indent", _raw("task: t\ndata:\n\tsource: csv\n"), ConfigError, "not valid YAML"),
    ("list-not-mapping", _raw("- task\n- kind\n"), ConfigError, "mapping"),
    ("scalar-not-mapping", _raw("just a string\n"), ConfigError, "mapping"),
    ("not-utf8", _raw(b"task: caf\xe9\nkind: binary\n"), ConfigError, "UTF-8"),
    ("binary-garbage", _raw(bytes(range(256))), ConfigError, "bad.yaml"),
    ("duplicate-key", _raw("task: t\nkind: binary\nkind: regression\n"), ConfigError, "twice"),
    (
        "duplicate-nested-key",
        _raw("task: t\nkind: binary\ndata: {source: csv, source: sklearn}\n"),
        ConfigError,
        "twice",
    ),
    ("mixed-type-keys", _raw("task: t\nkind: binary\n1: x\n~: y\n"), ConfigError, "unknown key"),
    ("missing-path", lambda f: f / "nope.yaml", UnknownTaskError, "no file"),
    ("directory-not-file", _directory, SweepflowError, "is a directory"),
]


@pytest.mark.parametrize(
    ("make", "error", "words"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_bad_task_files_name_the_file(tmp_path, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as err:
        load_task(str(path), tmp_path)
    assert str(path) in str(err.value)
    assert words in str(err.value)


def deny(*args: object, **kwargs: object) -> None:
    raise PermissionError(13, "Permission denied")


def test_unreadable_task_file(tmp_path, monkeypatch):
    path = write_yaml(tmp_path, base_task())
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: refuse the read instead
        monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(ConfigError, match=f"{path}: field '<file>': cannot read: Permission"):
        load_task(str(path), tmp_path)


# ---------------------------------------------------------------- CSV data


def frame_with(**columns: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: f.assign(**columns)


def set_cell(col: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        f[col] = f[col].astype(object)
        f.loc[row, col] = value
        return f

    return change


# (case id, kind, how to spoil the table (a frame → frame, or raw CSV bytes), words, column)
CSV_CASES: list[tuple[str, str, object, str, str | None]] = [
    ("target-missing", "binary", lambda f: f.drop(columns="y"), "target column 'y' not found", "y"),
    ("single-class-binary", "binary", frame_with(y="yes"), "single class", None),
    ("single-class-multiclass", "multiclass", frame_with(y="low"), "single class", None),
    (
        "binary-three-classes",
        "binary",
        lambda f: f.assign(y=np.arange(len(f)) % 3),
        "2 classes",
        None,
    ),
    (
        "regression-target-text",
        "regression",
        set_cell("y", 4, "abc"),
        "non-numeric value 'abc'",
        None,
    ),
    (
        "regression-target-na-text",
        "regression",
        set_cell("y", 4, "n/a"),
        "target has missing",
        None,
    ),
    ("junk-in-numeric", "binary", set_cell("x2", 7, "12,5kg"), "non-numeric value '12,5kg'", "x2"),
    ("nan-in-feature", "binary", set_cell("x1", 3, np.nan), "missing value (NaN)", "x1"),
    ("nan-in-target", "binary", set_cell("y", 5, None), "target has missing values", None),
    ("inf-in-feature", "regression", set_cell("x2", 2, np.inf), "'x2' has an infinite value", "x2"),
    ("inf-in-target", "regression", set_cell("y", 2, np.inf), "target has an infinite", None),
    ("constant-target", "regression", frame_with(y=3.0), "target is constant", None),
    (
        "duplicate-columns",
        "binary",
        b"x1,x1,y\n1,2,a\n3,4,b\n5,6,a\n7,8,b\n",
        "appear more than once",
        None,
    ),
    (
        "semicolon-separated",
        "binary",
        b"x1;x2;y\n1;2;a\n3;4;b\n5;6;a\n7;8;b\n",
        'set data.sep: ";"',
        None,
    ),
    ("only-target-column", "binary", lambda f: f[["y"]], "no feature columns", None),
    ("one-row", "regression", lambda f: f.head(1), "too few rows", None),
    ("one-row-binary", "binary", lambda f: f.head(1), "single class", None),
    ("three-rows", "regression", lambda f: f.head(3), "too few rows", None),
    ("empty-file", "binary", b"", "the CSV file is empty", None),
    ("blank-lines", "binary", b"\n\n\n", "the CSV file is empty", None),
    ("header-only", "binary", b"x1,x2,color,y\n", "no rows", None),
    ("ragged-rows", "binary", b"x1,x2,y\n1,2,a\n1,2,3,4,5\n", "cannot read CSV", None),
    ("not-utf8", "binary", b"x1,color,y\n1,caf\xe9,a\n2,b,b\n", "set data.encoding", None),
]


@pytest.mark.parametrize(
    ("kind", "spoil", "words", "column"),
    [c[1:] for c in CSV_CASES],
    ids=[c[0] for c in CSV_CASES],
)
def test_bad_csv_names_file_and_column(tmp_path, kind, spoil, words, column):
    # data.missing: error is the strict mode: missing cells are refused, as before imputation
    path = write_task(tmp_path, "bad", kind, data={"missing": "error"})
    csv = tmp_path / "bad.csv"
    if isinstance(spoil, bytes):
        csv.write_bytes(spoil)
    else:
        spoil(make_table(kind)).to_csv(csv, index=False)
    with pytest.raises(DataError) as err:
        prepare(load_task(str(path), tmp_path), tmp_path)
    message = str(err.value)
    assert "bad.csv" in message and words in message
    if column:
        assert f"'{column}'" in message


def test_unknown_categorical_column_is_named(tmp_path):
    path = write_task(tmp_path, "bad", "binary", data={"categorical": ["colour"]})
    with pytest.raises(DataError, match=r"bad.csv: .*unknown column.*'colour'"):
        prepare(load_task(str(path), tmp_path), tmp_path)


@pytest.mark.parametrize("url", [None, "https://example.invalid/bad.csv"], ids=["no-url", "url"])
def test_missing_csv_offline_names_the_file(tmp_path, url):
    path = write_task(tmp_path / "spaces", "bad", "binary", data={"url": url} if url else None)
    (tmp_path / "spaces" / "bad.csv").unlink()
    with pytest.raises(DataError) as err:
        prepare(load_task(str(path), tmp_path), tmp_path / "data")
    assert "bad.csv" in str(err.value)
    assert ("downloads are off" if url else "CSV file not found") in str(err.value)


def test_csv_path_that_is_a_directory(tmp_path):
    path = write_task(tmp_path, "bad", "binary")
    (tmp_path / "bad.csv").unlink()
    (tmp_path / "bad.csv").mkdir()
    with pytest.raises(DataError, match="bad.csv"):
        prepare(load_task(str(path), tmp_path), tmp_path)


def test_unreadable_csv(tmp_path, monkeypatch):
    path = write_task(tmp_path, "bad", "binary")
    cfg = load_task(str(path), tmp_path)
    (tmp_path / "bad.csv").chmod(0)
    if os.access(tmp_path / "bad.csv", os.R_OK):  # root reads anything: refuse the read instead
        monkeypatch.setattr(pd, "read_csv", deny)
    with pytest.raises(DataError, match="bad.csv: cannot read CSV .*Permission denied"):
        prepare(cfg, tmp_path)


# ---------------------------------------------------------------- CLI


def one_error_line(stderr: str, *names: str) -> str:
    """The single `sweepflow: error:` line; it names every given place; no traceback."""
    lines = [line for line in stderr.splitlines() if line.startswith("sweepflow: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for name in names:
        assert name in lines[0]
    return lines[0]


def store_rows(store: Path) -> dict[str, int]:
    """Runs, experiments beyond Default, studies and trials in a store (0 when no database)."""
    counts = {"runs": 0, "experiments": 0, "studies": 0, "trials": 0}
    queries = {
        "mlflow.db": {
            "runs": "select count(*) from runs",
            "experiments": "select count(*) from experiments where name != 'Default'",
        },
        "optuna.db": {
            "studies": "select count(*) from studies",
            "trials": "select count(*) from trials",
        },
    }
    for db, wanted in queries.items():
        if (store / db).is_file():
            with sqlite3.connect(store / db) as con:
                for key, sql in wanted.items():
                    counts[key] = con.execute(sql).fetchone()[0]
    return counts


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"search.engine": "hyperopt"}, "search.engine"),
        ({f"{S}.units": {"type": "int", "min": 32, "max": 8}}, "space.units"),
        ({"data.target": DROP}, "data.target"),
    ],
    ids=["cli-engine", "cli-min-above-max", "cli-target-missing"],
)
def test_cli_validate_prints_one_line(tmp_path, capsys, changes, field):
    path = write_yaml(tmp_path, edited(changes))
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    one_error_line(err, str(path), f"'{field}'")


def test_cli_validate_in_a_real_process(tmp_path):
    path = _raw("- not\n- a mapping\n")(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "sweepflow", "validate", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(PYTHONPATH=f"{REPO / 'src'}:{REPO}"),
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1  # exactly one line
    one_error_line(out.stderr, str(path), "<top level>")


def test_cli_tune_with_bad_yaml_creates_no_store(tmp_path, capsys):
    path = write_yaml(tmp_path, edited({"search.trials": 0}))
    store = tmp_path / "store"
    assert cli.main(["tune", str(path), "--store", str(store)]) == 2
    one_error_line(capsys.readouterr().err, str(path), "search.trials")
    assert not store.exists()


def test_cli_tune_with_an_unwritable_store(tmp_path, capsys):
    path = write_task(tmp_path, "bad", "binary")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["tune", str(path), "--store", str(blocker / "store")]) == 2
    one_error_line(capsys.readouterr().err, "store folder", "not writable")


@pytest.mark.slow  # among the longest of the fast suite; CI runs it in make test-slow
def test_cli_tune_data_error_leaves_no_run_or_study(tmp_path):
    """Through the real Prefect flow in a subprocess: exit 2, one line, an empty store.

    One case only: each run starts Prefect and TensorFlow (~35 s on 2 cores). It replaces
    test_cli's former test_bad_csv_through_the_whole_flow, adding the store checks.
    """
    path = write_task(tmp_path, "junk", "binary", set_cell("x1", 4, "oops")(make_table("binary")))
    store = tmp_path / "store"
    out = subprocess.run(
        [sys.executable, "-m", "sweepflow", "tune", str(path), "--store", str(store)]
        + ["--data-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=child_env(PYTHONPATH=f"{REPO / 'src'}:{REPO}"),
    )
    assert out.returncode == 2, out.stderr
    words = "column 'x1' has non-numeric value 'oops'"
    one_error_line(out.stderr, "junk.csv", words)
    assert out.stderr.count(words) == 1  # Prefect's run logs do not echo it
    assert "Traceback" not in out.stdout
    assert store_rows(store) == {"runs": 0, "experiments": 0, "studies": 0, "trials": 0}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWEEPFLOW_HEARTBEAT_SECONDS", "abc"),
        ("SWEEPFLOW_HEARTBEAT_SECONDS", "0"),
        ("SWEEPFLOW_SQLITE_TIMEOUT", "abc"),
        ("SWEEPFLOW_SQLITE_TIMEOUT", "nan"),
        ("SWEEPFLOW_MIN_FREE_MB", "abc"),
        ("SWEEPFLOW_MIN_FREE_MB", "-5"),
        ("SWEEPFLOW_THREADS", "inf"),
    ],
)
def test_bad_numeric_environment_gives_one_line_and_writes_nothing(
    tmp_path, capsys, monkeypatch, name, value
):
    path = write_task(tmp_path, "bad", "binary")
    monkeypatch.setenv(name, value)
    store = tmp_path / "store"
    assert cli.main(["tune", str(path), "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweepflow: error:") and name in err[0]
    assert not store.exists()


def test_a_storage_file_that_is_missing_gives_one_line(tmp_path, capsys, monkeypatch):
    path = write_task(tmp_path, "bad", "binary")
    monkeypatch.setenv("SWEEPFLOW_STORAGE_FILE", str(tmp_path / "nope"))
    assert cli.main(["tune", str(path), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SWEEPFLOW_STORAGE_FILE" in err[0]


@pytest.mark.parametrize("loss", ["empty", "deleted"])
def test_a_lost_study_beside_mlflow_trials_is_refused_not_restarted(
    tmp_path, capsys, monkeypatch, loss
):
    """An empty or missing optuna.db while MLflow holds the task's trials: refuse, write nothing."""
    from mlflow import MlflowClient

    from sweepflow.store.layout import Store

    monkeypatch.setenv("SWEEPFLOW_DATA_DIR", str(tmp_path))
    path = write_task(tmp_path, "kept", "binary")
    store = Store(tmp_path / "store")
    store.root.mkdir()
    client = MlflowClient(store.mlflow_uri)
    exp = client.create_experiment("kept")
    parent = client.create_run(exp, tags={"sweepflow.role": "search"}).info.run_id
    client.create_run(
        exp, tags={"sweepflow.role": "trial", "mlflow.parentRunId": parent}, run_name="trial-0"
    )
    db = store.root / "optuna.db"
    if loss == "empty":
        db.write_bytes(b"")  # `truncate -s 0 optuna.db`
    capsys.readouterr()  # MLflow's own schema-creation lines, from making the store above
    assert cli.main(["tune", str(path), "--store", str(store.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweepflow: error:"), err
    assert "no study 'kept'" in err[0] and "another name" in err[0]
    # the two runs above only: no parent run, no study, no trial written
    assert store_rows(store.root) == {"runs": 2, "experiments": 1, "studies": 0, "trials": 0}


def test_leftovers_of_an_interrupted_migration_are_named_with_their_repair(
    tmp_path, capsys, monkeypatch
):
    """`table _alembic_tmp_experiments already exists` becomes one line with the exact repair."""
    import re

    from mlflow import MlflowClient

    from sweepflow.store.checks import init_shared_stores
    from sweepflow.store.layout import Store

    monkeypatch.setenv("SWEEPFLOW_DATA_DIR", str(tmp_path))
    path = write_task(tmp_path, "migrated", "binary")
    store = Store(tmp_path / "store")
    store.root.mkdir()
    MlflowClient(store.mlflow_uri).search_experiments()  # a store with its schema
    db = store.root / "mlflow.db"
    with sqlite3.connect(db) as con:  # what a migration cut off mid-copy leaves
        con.execute("create table _alembic_tmp_experiments as select * from experiments")
    capsys.readouterr()
    assert cli.main(["tune", str(path), "--store", str(store.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweepflow: error:"), err
    assert "interrupted schema migration" in err[0]
    assert "DROP TABLE _alembic_tmp_experiments;" in err[0]
    # the repair it names works: the store opens again
    sql = re.search(r'sqlite3 \S+ "([^"]+)"', err[0]).group(1)
    with sqlite3.connect(db) as con:
        con.executescript(sql)
    init_shared_stores(store)


@pytest.mark.parametrize(
    ("name", "url", "words"),
    [
        ("MLFLOW_TRACKING_URI", "foo://bar", "unsupported URI 'foo://bar'"),
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:9", "no MLflow tracking server answers"),
        ("MLFLOW_TRACKING_URI", "http://not a url", "no MLflow tracking server answers"),
        ("MLFLOW_TRACKING_URI", "https://127.0.0.1:9/mlflow", "no MLflow tracking server"),
        (
            "MLFLOW_TRACKING_URI",
            "postgresql://postgres@127.0.0.1:5432/sweepflow_no_such_db",
            "cannot open the MLflow store",
        ),
        (
            "MLFLOW_TRACKING_URI",
            "postgresql://postgres@127.0.0.1:1/test",
            "cannot open the MLflow store",
        ),
        (
            "SWEEPFLOW_STORAGE",
            "postgresql://postgres@127.0.0.1:5432/sweepflow_no_such_db",
            "cannot open the Optuna storage",
        ),
        ("SWEEPFLOW_STORAGE", "mysql://nobody@127.0.0.1:1/x", "cannot open the Optuna storage"),
    ],
)
def test_a_bad_or_dead_store_url_fails_fast_with_one_line(
    tmp_path, capsys, monkeypatch, name, url, words
):
    """Wrong scheme, dead server, missing database: one line in seconds, no run written."""
    import time

    monkeypatch.setenv("SWEEPFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, url)
    path = write_task(tmp_path, "bad_url", "binary")
    store = tmp_path / "store"
    start = time.monotonic()
    assert cli.main(["tune", str(path), "--store", str(store)]) == 2
    assert time.monotonic() - start < 60  # not minutes of retries
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweepflow: error:"), err
    assert words in err[0]
    assert store_rows(store) == {"runs": 0, "experiments": 0, "studies": 0, "trials": 0}
