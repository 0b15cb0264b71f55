"""MLflow at the edges: experiments, search/trial runs, batched per-epoch metrics, artifacts."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking._model_registry import utils as registry_state
from mlflow.tracking._tracking_service import utils as tracking_state

from sweepflow.model.trial import FAILED, TrialOutcome
from sweepflow.plots import learning_curve
from sweepflow.store.layout import Store

_BATCH = 900  # MLflow accepts up to 1000 metrics per log_batch call
_FLUSH_SECONDS = 10.0


def _step(metric: Metric) -> int:
    return metric.step


def _now_ms() -> int:
    return int(time.time() * 1000)


_POINTERS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def mlflow_at(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (log_model, load_model) at one store, and put it back after.

    mlflow.set_tracking_uri/set_registry_uri set process globals and export them as environment
    variables; left set, a later client in the same process (a scheduled retrain of another store,
    a test) would read or register models in this store.
    """
    saved = {var: os.environ.get(var) for var in _POINTERS}
    tracking = tracking_state._tracking_uri  # None unless set (mlflow has no public getter)
    registry = registry_state._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings → dotted keys with string values (MLflow params and tags)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


class EpochLogger(keras.callbacks.Callback):
    """Buffers per-epoch metrics (step = epoch, 1-based) and logs them in batches."""

    def __init__(self, client: MlflowClient | None, run_id: str) -> None:
        super().__init__()
        self.client, self.run_id = client, run_id
        self.buffer: list[Metric] = []
        self.last_flush = time.monotonic()

    def __deepcopy__(self, memo: dict) -> EpochLogger:
        """Keras Tuner deep-copies callbacks per execution: keep one logger (and one buffer)."""
        return self

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Queue every metric Keras reports for this epoch."""
        stamp = _now_ms()
        for key, value in (logs or {}).items():
            if isinstance(value, int | float) or hasattr(value, "__float__"):
                self.buffer.append(Metric(key, float(value), stamp, epoch + 1))
        if len(self.buffer) >= _BATCH or time.monotonic() - self.last_flush > _FLUSH_SECONDS:
            self.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Send what is left."""
        self.flush()

    def flush(self) -> None:
        """Log the buffered metrics in batches (dropped when tracking is off)."""
        if self.client is None:
            self.buffer.clear()
        while self.buffer:
            chunk, self.buffer = self.buffer[:_BATCH], self.buffer[_BATCH:]
            self.client.log_batch(self.run_id, metrics=chunk, synchronous=True)
        self.last_flush = time.monotonic()


class Tracker:
    """Everything sweepflow records in MLflow goes through here.

    A disabled tracker (`Tracker.disabled()`) records nothing and talks to no store: runs get
    local ids, logging calls return at once. Searches run unchanged (tracking on/off benchmark).
    """

    def __init__(
        self, tracking_uri: str, artifact_root: Path | None, *, enabled: bool = True
    ) -> None:
        self.uri = tracking_uri
        self.artifact_root = Path(artifact_root) if artifact_root is not None else None
        self.enabled = enabled
        self._context: dict[str, str] | None = None
        self.client = (
            MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri) if enabled else None
        )

    def _context_tags(self) -> dict[str, str]:
        """MLflow's own run context (user, source, git commit), resolved once per tracker."""
        if self._context is None:
            from mlflow.tracking.context.registry import resolve_tags

            self._context = {k: str(v) for k, v in resolve_tags().items()}
            self._context["mlflow.source.name"] = "sweepflow"
        return self._context

    @classmethod
    def disabled(cls) -> Tracker:
        """A tracker that records nothing (no MLflow calls, no artifacts, no plots)."""
        return cls("", Path("."), enabled=False)

    @classmethod
    def for_store(cls, store: Store) -> Tracker:
        """The tracker over a store (created, or refused early when it is not writable)."""
        store.ensure()
        # a tracking server keeps artifacts in its own (shared) artifact store
        return cls(store.mlflow_uri, None if store.remote_tracking else store.artifact_root)

    def experiment(self, task: str) -> str:
        """The experiment of a task (created on first use, artifacts under the store)."""
        if not self.enabled:
            return "disabled"
        found = self.client.get_experiment_by_name(task)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        root = self.artifact_root
        location = (root / task).resolve().as_uri() if root is not None else None
        try:
            return self.client.create_experiment(task, artifact_location=location)
        except MlflowException:  # created meanwhile by another worker
            return self.client.get_experiment_by_name(task).experiment_id

    def describe(self, experiment_id: str, text: str) -> None:
        """The experiment's description (MLflow shows the note on the experiment page)."""
        if self.enabled:
            self.client.set_experiment_tag(experiment_id, "mlflow.note.content", text)
            # the UI opens a model-training experiment on its runs table, not the GenAI overview
            self.client.set_experiment_tag(
                experiment_id, "mlflow.experimentKind", "custom_model_development"
            )

    def log_dataset(self, run_id: str, frame: Any, name: str, source: str, context: str) -> None:
        """Record a table a run used (`mlflow.log_input`: its name, digest, schema, source)."""
        if not self.enabled or not hasattr(frame, "columns"):
            return
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag

        where = source if Path(source).exists() or "://" in source else None  # a file or URL
        dataset = mlflow.data.from_pandas(frame, source=where, name=name)
        tag = InputTag("mlflow.data.context", context)
        self.client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), [tag])])

    def start_run(
        self,
        experiment_id: str,
        name: str,
        parent_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Open a run (nested under `parent_id` when given)."""
        if not self.enabled:
            return uuid.uuid4().hex
        all_tags = {**self._context_tags(), **flatten(tags or {})}
        if parent_id:
            all_tags["mlflow.parentRunId"] = parent_id
        return self.client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id

    def log(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, Any] | None = None,
        step: int = 0,
    ) -> None:
        """Log params, metrics and tags in one batched call (chunked to MLflow's limits)."""
        if not self.enabled:
            return
        stamp = _now_ms()
        p = [Param(k, v) for k, v in flatten(params or {}).items()]
        m = [Metric(k, float(v), stamp, step) for k, v in (metrics or {}).items() if v is not None]
        t = [RunTag(k, v) for k, v in flatten(tags or {}).items()]
        while p or m or t:
            self.client.log_batch(
                run_id, metrics=m[:_BATCH], params=p[:100], tags=t[:100], synchronous=True
            )
            p, m, t = p[100:], m[_BATCH:], t[100:]

    def log_files(self, run_id: str, paths: Iterable[Path], folder: str | None = None) -> None:
        """Upload files as artifacts of a run."""
        if not self.enabled:
            return
        for path in paths:
            self.client.log_artifact(run_id, str(path), folder)

    def log_json(self, run_id: str, obj: Any, name: str, folder: str | None = None) -> None:
        """Upload a JSON document as an artifact of a run."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(obj, indent=1, default=str))
            self.log_files(run_id, [path], folder)

    def end(self, run_id: str, ok: bool = True) -> None:
        """Close a run as FINISHED (or FAILED)."""
        if not self.enabled:
            return
        status = RunStatus.to_string(RunStatus.FINISHED if ok else RunStatus.FAILED)
        self.client.set_terminated(run_id, status)

    def count_children(self, experiment_id: str, parent: str, status: str) -> int:
        """How many runs nested under `parent` have `status` (FINISHED, RUNNING, …)."""
        return len(self.children(experiment_id, parent, status)) if self.enabled else 0

    def epoch_logger(self, run_id: str) -> EpochLogger:
        """A fresh Keras callback logging this run's per-epoch curves."""
        return EpochLogger(self.client, run_id)

    def finish_trial(self, run_id: str, outcome: TrialOutcome, objective: str) -> None:
        """Final metrics and state tag of a trial run; then close it (PNG: draw_learning_curves)."""
        if not self.enabled:
            return
        metrics: dict[str, float] = {"trial_seconds": outcome.seconds}
        if outcome.fit is not None:
            metrics["epochs_run"] = outcome.fit.epochs_run
            metrics["best_epoch"] = outcome.fit.best_epoch
            metrics.update({f"best_{k}": v for k, v in outcome.val_metrics.items()})
        if outcome.value is not None:
            metrics[f"final_{objective}"] = outcome.value
        tags = {"state": outcome.state, "trial_number": outcome.number}
        if outcome.reason:
            tags["failure_reason"] = outcome.reason
        self.log(run_id, metrics=metrics, tags=tags)
        self.end(run_id, ok=outcome.state != FAILED)

    def curve(self, run_id: str, key: str) -> list[float]:
        """A run's per-epoch values of one metric, in epoch order."""
        return [m.value for m in sorted(self.client.get_metric_history(run_id, key), key=_step)]

    def children(self, experiment_id: str, parent: str, status: str = "FINISHED") -> list[Any]:
        """The runs nested directly under `parent` that have `status`."""
        return self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent}' "
            f"and attributes.status = '{status}'",
            max_results=5000,
        )

    def draw_learning_curves(self, experiment_id: str, parent: str, numbers: list[int]) -> int:
        """Learning-curve PNGs of a search's trials `numbers` (each fold's, under cv).

        Drawn from the logged curves once the search is done, for its best trials only: a PNG
        costs 0.1-0.4 s, 5-10 % of a small trial. Every run keeps its per-epoch metrics.
        """
        if not self.enabled or not numbers:
            return 0
        trials = self.children(experiment_id, parent)
        by_number = {r.data.tags.get("trial_number"): r for r in trials}
        drawn = 0
        with tempfile.TemporaryDirectory() as tmp:
            for number in numbers:
                trial = by_number.get(str(number))
                if trial is None:
                    continue
                runs = [trial]
                if "loss" not in trial.data.metrics:  # a cv trial: its folds hold the curves
                    runs = self.children(experiment_id, trial.info.run_id)
                for run in runs:
                    metrics = run.data.metrics
                    # what learning_curve draws: the loss and the first metric, each with val_
                    first = [k for k in sorted(metrics) if k != "loss" and f"val_{k}" in metrics]
                    keys = ["loss", "val_loss", *first[:1], *(f"val_{k}" for k in first[:1])]
                    history = {k: self.curve(run.info.run_id, k) for k in keys if k in metrics}
                    if not history.get("loss"):
                        continue
                    folder = Path(tmp) / run.info.run_id
                    folder.mkdir()
                    png = learning_curve(
                        history,
                        folder / "learning_curve.png",
                        f"{run.info.run_name} ({run.data.tags.get('state', '')})",
                        int(metrics.get("best_epoch", 0)) or None,
                    )
                    self.log_files(run.info.run_id, [png], "plots")
                    drawn += 1
        return drawn
