"""Final-model variants on one finished search: single network vs averaged ensembles.

After `sweepflow tune` has run into a store, the same study (same trials, same seeds) is read
back and the final stage is re-run with other `final:` settings, so the comparison isolates how
the final model is built from how the search went. Used by bench/quality.py.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from common import ENV, ROOT, data_dir

# name: (ensemble, members)
VARIANTS = {
    "single": (1, "best"),
    "best x5": (5, "best"),
    "top x3": (3, "top"),
    "top x5": (5, "top"),
}


def final_variants(task: str, seed: int, store: Path) -> dict[str, dict[str, Any]]:
    """Test metrics of each variant's final model, from the study recorded in `store`."""
    os.environ.update(ENV)
    from sweepflow.config.final import FinalConfig
    from sweepflow.config.task import load_task
    from sweepflow.data.prepare import prepare
    from sweepflow.engines import SearchSummary
    from sweepflow.engines.optuna_engine import OptunaEngine
    from sweepflow.engines.optuna_study import ranked
    from sweepflow.evaluate.final import final_evaluate
    from sweepflow.store.layout import Store

    cfg = load_task(task, ROOT / "search_spaces").with_overrides(seed=seed)
    study = OptunaEngine(Store(store).study_storage).load_study(cfg)
    top = ranked(study)
    best = top[0]
    summary = SearchSummary(best.params, best.value, best.number, best.best_epoch, {}, ranked=top)
    data = prepare(cfg, data_dir())
    out: dict[str, dict[str, Any]] = {}
    for name, (n, members) in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            ev = final_evaluate(
                data,
                summary,
                base_seed=seed,
                out_dir=Path(tmp),
                final=FinalConfig(ensemble=n, members=members),
            )
        out[name] = {"test": ev.metrics, "seconds": ev.seconds, "members": ev.members}
        print(f"  {task} seed {seed} {name}: {ev.headline}={ev.value:.4f}", flush=True)
    return out
