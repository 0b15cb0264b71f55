"""Retraining: a challenger with the champion's hyperparameters, promoted only if really better."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from sweepflow.command import Command
from sweepflow.config.space import FixedSpec
from sweepflow.config.task import TaskConfig
from sweepflow.data.compact import predict_scores
from sweepflow.data.drift import drift_report
from sweepflow.data.prepare import Prepared
from sweepflow.engines import Candidate, SearchSummary, make_engine
from sweepflow.errors import SweepflowError, failure_reason
from sweepflow.evaluate.final import Evaluation, final_evaluate, predict_labels
from sweepflow.model.trial import COMPLETE, TrialOutcome
from sweepflow.registry.register import (
    CHAMPION,
    champion,
    describe_version,
    promote,
    register_version,
)
from sweepflow.registry.serving import features
from sweepflow.retrain.compare import Comparison, compare
from sweepflow.search.budget import drive
from sweepflow.search.recorder import TrialRecorder
from sweepflow.search.session import Session
from sweepflow.tracking import Tracker, mlflow_at

log = logging.getLogger("sweepflow.retrain")


@dataclass
class Champion:
    """The registered champion: its version, hyperparameters and loaded model."""

    version: str
    params: dict[str, Any]
    epochs: int
    model: Any  # the unwrapped SweepflowModel (preprocessor + network + metadata)


@dataclass
class RetrainRun:
    """The retrain run in MLflow and what it has found so far."""

    run_id: str
    experiment_id: str
    champion: Champion
    drift: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


@dataclass
class RetrainReport:
    """The outcome of one retrain."""

    task: str
    champion_version: str
    challenger_version: str | None
    promoted: bool
    decision: dict[str, Any]
    drift_max_psi: float
    run_id: str

    def line(self) -> str:
        """A one-line human summary."""
        if self.challenger_version is None:
            return f"{self.task}: no retrain ({self.decision.get('reason')}); run {self.run_id}"
        verdict = "promoted to champion" if self.promoted else "champion kept"
        return (
            f"{self.task}: challenger v{self.challenger_version} vs champion "
            f"v{self.champion_version}: {verdict} — {self.decision['reason']}"
        )


def decision_markdown(report: RetrainReport, result: Comparison | None) -> str:
    """The retrain decision as a Markdown table (the Prefect artifact of the flow run)."""
    lines = [f"## Retrain of `{report.task}`", ""]
    if result is None:
        return "\n".join([*lines, f"No challenger trained: {report.decision.get('reason')}"])
    better = "higher" if result.higher_is_better else "lower"
    lines += [
        "| | value |",
        "|---|---|",
        f"| champion v{report.champion_version} {result.metric} | {result.champion:.4f} |",
        f"| challenger v{report.challenger_version} {result.metric} | {result.challenger:.4f} |",
        f"| better is | {better} |",
        f"| test | {result.test} |",
        f"| p-value | {result.p_value:.4g} (alpha {result.alpha}) |",
        f"| 95 % interval of the improvement | {result.ci_low:.4f} … {result.ci_high:.4f} |",
        f"| margin | {result.margin} |",
        f"| largest drift (PSI) | {report.drift_max_psi:.3f} |",
        f"| verdict | {'promoted' if result.promoted else 'champion kept'} |",
        f"| reason | {result.reason} |",
    ]
    return "\n".join(lines)


def load_champion(tracker: Tracker, task: str) -> Champion:
    """The current champion of a task, or a clear error when there is none."""
    current = champion(tracker.client, task)
    if current is None:
        raise SweepflowError(
            f"task '{task}' has no champion model yet; run `make tune TASK={task}`"
        )
    with mlflow_at(tracker.uri):
        model = mlflow.pyfunc.load_model(f"models:/{task}@{CHAMPION}").unwrap_python_model()
    meta = model.meta
    if "params" not in meta:
        raise SweepflowError(f"champion v{current.version} of '{task}' has no recorded params")
    return Champion(str(current.version), dict(meta["params"]), int(meta["epochs"]), model)


def start(cfg: TaskConfig, command: Command) -> RetrainRun:
    """Find the champion and open the retrain run."""
    tracker = command.tracker
    champ = load_champion(tracker, cfg.name)
    experiment_id = tracker.experiment(cfg.name)
    run_id = tracker.start_run(
        experiment_id,
        f"retrain-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={"sweepflow.role": "retrain", "champion_version": champ.version},
    )
    tracker.log(
        run_id,
        params={
            "task": cfg.name,
            "champion_version": champ.version,
            **{f"champion.{k}": v for k, v in champ.params.items()},
            "seeds": cfg.retrain.seeds,
            "search_trials": cfg.retrain.search_trials,
        },
    )
    return RetrainRun(run_id, experiment_id, champ)


def check_drift(cfg: TaskConfig, data: Prepared, run: RetrainRun, command: Command) -> RetrainRun:
    """PSI of the current training data against the champion's; may decide to skip."""
    tracker = command.tracker
    reference = run.champion.model.meta.get("profile")
    if reference is None or data.raw_train is None:
        return run
    x_now = features(run.champion.model.pre, data.raw_train)
    report = drift_report(reference, x_now)
    run.drift = report
    top = dict(list(report["psi"].items())[:50])
    tracker.log(
        run.run_id,
        metrics={"drift_max_psi": report["max_psi"]},
        tags={"drift_worst_feature": report["worst_feature"]},
    )
    tracker.log_json(run.run_id, report, "drift.json")
    log.info(
        "%s: drift max PSI %.3f (%s); top: %s",
        cfg.name,
        report["max_psi"],
        report["worst_feature"],
        ", ".join(f"{k}={v:.3f}" for k, v in list(top.items())[:3]),
    )
    if cfg.retrain.require_drift and report["max_psi"] < cfg.retrain.drift_threshold:
        run.skipped = (
            f"no feature drifted past PSI {cfg.retrain.drift_threshold} "
            f"(max {report['max_psi']:.3f}); retrain.require_drift is on"
        )
    return run


def train_challenger(
    cfg: TaskConfig, data: Prepared, run: RetrainRun, command: Command
) -> Evaluation:
    """Champion's params over N seeds (+ optional warm-started search); best by val, retrained."""
    tracker = command.tracker
    base_seed = cfg.search.seed + 7919 * int(run.champion.version)  # unlike the champion's seeds
    seed_cfg = replace(cfg, search=replace(cfg.search, seed=base_seed))
    session = Session(run.experiment_id, run.run_id, budget=cfg.retrain.search_trials)
    recorder = TrialRecorder(seed_cfg, data, tracker, session)
    recorder.run_prefix = "challenger"
    outcomes: list[TrialOutcome] = [
        recorder(run.champion.params, i, [], lambda: False) for i in range(cfg.retrain.seeds)
    ]
    if cfg.retrain.search_trials and cfg.search.engine == "optuna":
        engine = make_engine("optuna", command.store)
        study = engine.load_study(cfg)
        searched = {
            k: v
            for k, v in run.champion.params.items()
            if not (k in {s.name for s in cfg.space.specs} and isinstance(cfg.space[k], FixedSpec))
        }
        study.enqueue_trial(searched, skip_if_exists=True)
        warm = replace(cfg, search=replace(cfg.search, trials=cfg.retrain.search_trials))
        with tempfile.TemporaryDirectory() as tmp:
            outcomes += drive(engine, warm, recorder, Path(tmp)).session_outcomes
    done = [o for o in outcomes if o.state == COMPLETE and o.value is not None]
    if not done:
        raise SweepflowError(f"task '{cfg.name}': no challenger trained successfully")
    done.sort(key=lambda o: o.value, reverse=cfg.direction == "maximize")
    ranked = [
        Candidate(o.number, o.params, o.fit.best_epoch if o.fit else 1, o.value) for o in done
    ]
    best = ranked[0]
    summary = SearchSummary(
        best.params,
        best.value,
        best.number,
        best.best_epoch,
        {COMPLETE: len(done)},
        ranked=ranked,
        threshold=done[0].val_metrics.get("val_threshold", 0.5),
    )
    with tempfile.TemporaryDirectory() as tmp:
        evaluation = final_evaluate(
            data, summary, base_seed=base_seed, out_dir=Path(tmp), final=cfg.final
        )
        tracker.log_files(run.run_id, evaluation.files, "evaluation")
    tracker.log(run.run_id, metrics={**evaluation.metrics, "challenger_val": best.value})
    return evaluation


def decide(
    cfg: TaskConfig, data: Prepared, run: RetrainRun, evaluation: Evaluation, command: Command
) -> tuple[str, Comparison]:
    """Compare on the same current test split; register the challenger; promote if it clears."""
    tracker = command.tracker
    champ_out = run.champion.model.predict(None, data.raw_test)
    scores = predict_scores(evaluation.model, data.x_test)
    if data.kind == "regression":
        champ_pred, chal_pred = champ_out["prediction"].to_numpy(), scores.reshape(-1)
    else:
        champ_pred = champ_out["label_index"].to_numpy()
        chal_pred = predict_labels(data.kind, scores, evaluation.threshold)
    r = cfg.retrain
    result = compare(
        data.kind,
        data.y_test,
        champ_pred,
        chal_pred,
        test=r.test,
        alpha=r.alpha,
        margin=r.margin,
        n_boot=r.bootstrap,
        seed=cfg.search.seed,
    )
    version = register_version(tracker, run.run_id, cfg.name, data, evaluation)
    record = {
        **result.as_dict(),
        "champion_version": run.champion.version,
        "challenger_version": version,
    }
    client = tracker.client
    if result.promoted:
        promote(client, cfg.name, version, run.champion.version)
    for key in ("promoted", "p_value", "test", "reason", "champion_version"):
        client.set_model_version_tag(cfg.name, version, f"decision.{key}", str(record[key]))
    describe_version(
        client, cfg.name, version, result.metric, result.challenger, result.reason, result.promoted
    )
    # the same two tags a version registered by a search carries
    client.set_model_version_tag(cfg.name, version, "champion_decision", result.reason)
    client.set_model_version_tag(cfg.name, version, "promoted", str(result.promoted).lower())
    tracker.log(
        run.run_id,
        tags={f"decision.{k}": v for k, v in record.items()},
        metrics={
            "decision_p_value": result.p_value,
            "promoted": float(result.promoted),
            "champion_metric": result.champion,
            "challenger_metric": result.challenger,
        },
    )
    tracker.log_json(run.run_id, record, "decision.json")
    tracker.end(run.run_id)
    log.info(
        "%s: %s → %s",
        cfg.name,
        result.reason,
        f"v{version} promoted" if result.promoted else f"champion v{run.champion.version} kept",
    )
    return version, result


def finish_skipped(run: RetrainRun, command: Command) -> None:
    """Record why no challenger was trained and close the run."""
    tracker = command.tracker
    tracker.log(run.run_id, tags={"decision.promoted": "False", "decision.reason": run.skipped})
    tracker.end(run.run_id)


def report(
    cfg: TaskConfig, run: RetrainRun, version: str | None, result: Comparison | None
) -> RetrainReport:
    """Summarise a retrain."""
    decision = result.as_dict() if result else {"reason": run.skipped, "promoted": False}
    return RetrainReport(
        cfg.name,
        run.champion.version,
        version,
        bool(result and result.promoted),
        decision,
        float(run.drift.get("max_psi", np.nan)),
        run.run_id,
    )


def fail(run: RetrainRun, command: Command, exc: BaseException) -> None:
    """Close the retrain run as failed, with the reason (nothing is registered or promoted)."""
    tracker = command.tracker
    tracker.log(run.run_id, tags={"failure_reason": failure_reason(exc)})
    tracker.end(run.run_id, ok=False)
