"""search.timeout and trial_cap: no trial trains past the deadline, nor past its share."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import SMALL_SPACE, write_task

from sweepflow.config.task import load_task
from sweepflow.data.prepare import prepare
from sweepflow.engines import make_engine
from sweepflow.errors import ConfigError
from sweepflow.search.recorder import StopAt, TrialClock
from sweepflow.search.stage import run_search
from sweepflow.store.layout import Store
from sweepflow.tracking import Tracker


def test_clock_gives_early_trials_a_share_and_later_ones_the_time_searched():
    clock = TrialClock(start=100.0, timeout=900.0, cap=0.2)
    assert clock.stop_at(100.0) == pytest.approx(280.0)  # the first trial: 0.2 × 900 s
    assert clock.stop_at(200.0) == pytest.approx(380.0)  # 100 s searched: still the share
    assert clock.stop_at(400.0) == pytest.approx(700.0)  # 300 s searched: up to 300 s more
    assert clock.stop_at(800.0) == pytest.approx(1000.0)  # never past the deadline
    uncapped = TrialClock(start=100.0, timeout=900.0)
    assert uncapped.stop_at(100.0) == uncapped.stop_at(950.0) == pytest.approx(1000.0)


class SlowEpochs(keras.callbacks.Callback):
    """Makes every epoch take at least `seconds` (a stand-in for a large dataset's epoch)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        time.sleep(self.seconds)


def _fit(stop_at: float, epochs: int = 40) -> tuple[int, float]:
    """Epochs a 0.25-s-an-epoch fit ran with StopAt(stop_at), and when it ended."""
    rng = np.random.default_rng(0)
    x = rng.random((32, 3), dtype=np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    callbacks = [SlowEpochs(0.25), StopAt(stop_at)]
    history = model.fit(x, x.sum(axis=1), epochs=epochs, verbose=0, callbacks=callbacks)
    return len(history.history["loss"]), time.monotonic()


def test_stop_at_ends_training_before_an_epoch_would_run_past_it():
    assert _fit(time.monotonic() + 3600, epochs=4)[0] == 4
    assert _fit(time.monotonic(), epochs=4)[0] == 1  # already due: the first epoch end stops it
    stop_at = time.monotonic() + 4.0
    epochs, ended = _fit(stop_at)  # 40 epochs would take ≥ 10 s
    assert 2 <= epochs < 40
    # it did not start an epoch that would end past stop_at (as long as the one before it:
    # the slack is for an epoch that runs longer than the last, on a loaded machine)
    assert ended <= stop_at + 0.5


@pytest.mark.parametrize("cap", [0, 1.5, "a fifth", True])
def test_a_trial_cap_outside_0_to_1_is_refused(tmp_path, cap):
    path = write_task(tmp_path, "t", "regression", overrides={"search": {"trial_cap": cap}})
    with pytest.raises(ConfigError) as err:
        load_task(str(path), tmp_path)
    assert err.value.field == "search.trial_cap"


def _timed_search(tmp_path: Path, search: dict) -> tuple[list, float]:
    """A search with 0.1-s epochs and no early stop (only the clock ends a trial): its
    outcomes and how long it took."""
    overrides = {
        "search": search,
        "training": {"patience": 1000},
        "space": {**SMALL_SPACE, "epochs": 1000},
    }
    cfg = load_task(str(write_task(tmp_path, "t", "regression", overrides=overrides)), Path("."))
    data = prepare(cfg, tmp_path)
    store = Store(tmp_path / "store")
    store.ensure()
    tracker = Tracker(store.mlflow_uri, store.artifact_root)
    start = time.monotonic()
    result = run_search(
        cfg,
        data,
        tracker,
        make_engine(cfg.search.engine, store),
        extra_callbacks=lambda: [SlowEpochs(0.1)],
    )
    return result.summary.session_outcomes, time.monotonic() - start


@pytest.mark.parametrize("cap", [0.1, None])
def test_a_timed_search_cuts_long_trials_and_keeps_their_best_epoch(tmp_path, cap):
    search = {"trials": 50, "seed": 0, "pruner": "none", "timeout": 12}
    outcomes, took = _timed_search(tmp_path, {**search, **({"trial_cap": cap} if cap else {})})
    first = outcomes[0].fit
    # ≥ 0.1 s epochs: 1.2 s (0.1 × 12 s) with the cap, else the 12-s deadline — never 1000
    assert first.epochs_run <= (16 if cap else 121)
    assert first.best_epoch <= first.epochs_run
    assert all(o.value is not None for o in outcomes)
    if cap:
        assert len(outcomes) >= 2
    else:  # the first trial ran until one more epoch would pass the deadline: any trial
        assert all(o.fit.epochs_run == 1 for o in outcomes[1:])  # after it gets one epoch
    assert took < 12 + 15  # the last trial stopped at the deadline (plus set-up and teardown)


def test_keras_tuner_stops_at_the_same_deadline(tmp_path):
    search = {"engine": "keras-tuner", "tuner": "random", "trials": 50, "timeout": 8}
    outcomes, took = _timed_search(tmp_path, search)
    assert 1 <= len(outcomes) < 50 and outcomes[0].fit.epochs_run <= 81  # not 1000 epochs
    assert took < 8 + 15
