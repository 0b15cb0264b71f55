"""Queries of an Optuna study: a search session's share of its trials, their states, the best."""

from __future__ import annotations

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweepflow.config.final import MAX_MEMBERS
from sweepflow.engines import Candidate
from sweepflow.model.trial import COMPLETE, FAILED, PRUNED, RUNNING


def session_trials(study: optuna.Study, session: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials that belong to one search session (all workers)."""
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("session") == session]


def spent(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials that use up a session's budget: running or finished, not those a kill cut short."""
    done = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    return sum(
        t.state in done or (t.state == TrialState.FAIL and "failure_reason" in t.user_attrs)
        for t in trials
    )


def trial_states(study: optuna.Study) -> dict[int, str]:
    """Each trial's state in sweepflow's words, by trial number."""
    words = {TrialState.COMPLETE: COMPLETE, TrialState.PRUNED: PRUNED, TrialState.FAIL: FAILED}
    return {t.number: words.get(t.state, RUNNING) for t in study.get_trials(deepcopy=False)}


def ranked(study: optuna.Study, n: int = MAX_MEMBERS) -> list[Candidate]:
    """The study's n best completed trials, best first."""
    done = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)
    return [
        Candidate(
            t.number,
            dict(t.user_attrs.get("params", t.params)),
            int(t.user_attrs.get("best_epoch", 1)),
            float(t.value),
        )
        for t in done[:n]
    ]
