"""Model registry: log the final model with its preprocessing, register it, move `champion`."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import DataType
from mlflow.types.schema import AnyType, ColSpec, Schema

from sweepflow.data.drift import feature_names, profile
from sweepflow.data.prepare import Prepared
from sweepflow.data.preprocess import to_dict
from sweepflow.evaluate.final import Evaluation
from sweepflow.registry.serving import decode, features
from sweepflow.tracking import Tracker, mlflow_at

log = logging.getLogger("sweepflow.registry")
CHAMPION, PREVIOUS = "champion", "previous"
_SERVING_CODE = Path(__file__).with_name("serving_model.py")
_REQUIREMENTS = ("mlflow", "keras", "numpy", "pandas", "tensorflow-cpu", "tensorflow")


@dataclass
class Decision:
    """Whether a new model version became champion, and on what comparison."""

    model: str
    version: str
    metric: str
    value: float
    higher_is_better: bool
    previous_version: str | None
    previous_value: float | None
    promoted: bool
    reason: str


def pip_requirements() -> list[str]:
    """Explicit requirements (inferring them costs ~9 s per model)."""
    out = []
    for name in _REQUIREMENTS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def log_final_model(
    tracker: Tracker, run_id: str, data: Prepared, evaluation: Evaluation, work: Path
) -> str:
    """Log the network (.keras) + preprocessing (JSON) as one pyfunc model; return its URI.

    Called inside `mlflow_at(tracker.uri)` (register_version), like the registration after it.
    """
    network = work / "network.keras"
    evaluation.model.save(network)
    meta = work / "metadata.json"
    meta.write_text(
        json.dumps(
            {
                "kind": data.kind,
                "class_names": data.class_names,
                "preprocessor": to_dict(data.preprocessor),
                "params": evaluation.params,
                "epochs": evaluation.epochs,
                "threshold": evaluation.threshold,
                # the training data's feature profile, for drift checks when retraining
                "profile": profile(data.x_train, feature_names(data.preprocessor, data.n_features)),
            }
        )
    )
    example = _head(data.raw_test, 5)
    scores = evaluation.model.predict(features(data.preprocessor, example), verbose=0)
    with warnings.catch_warnings():  # the integer-columns hint: numbers are declared Any (below)
        warnings.simplefilter("ignore", UserWarning)
        out = decode(data.kind, data.class_names, scores, evaluation.threshold)
        signature = numbers_as_any(infer_signature(example, out))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(_SERVING_CODE),
            artifacts={"network": str(network), "metadata": str(meta)},
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
    return info.model_uri


def numbers_as_any(signature: ModelSignature) -> ModelSignature:
    """Numeric input columns typed Any: the preprocessing converts them, so ints, floats and
    missing values (NaN) are all accepted where MLflow would refuse int64 → double or NaN → long.
    """
    inputs = signature.inputs
    if inputs is None or not inputs.has_input_names():
        return signature
    numeric = {DataType.long, DataType.integer, DataType.double, DataType.float}
    columns = [
        ColSpec(AnyType(), c.name)
        if isinstance(getattr(c, "type", None), DataType) and c.type in numeric
        else c
        for c in inputs.inputs
    ]
    return ModelSignature(Schema(columns), signature.outputs, signature.params)


def _head(raw: Any, n: int) -> Any:
    return raw.head(n) if hasattr(raw, "head") else raw[:n]


def plain(value: Any) -> str:
    """A tag value as plain text: '' for None, true/false for booleans, numbers as written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def champion(client: MlflowClient, name: str) -> Any | None:
    """The model version the `champion` alias points at, or None."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def promote(client: MlflowClient, name: str, version: str, previous: str | None) -> None:
    """Point `champion` at `version`; the old champion (if any) gets `previous`."""
    if previous is not None and previous != version:
        client.set_registered_model_alias(name, PREVIOUS, previous)
    client.set_registered_model_alias(name, CHAMPION, version)


def promote_if_better(
    client: MlflowClient,
    name: str,
    version: str,
    metric: str,
    value: float,
    higher_is_better: bool,
) -> Decision:
    """Point `champion` at `version` only if it beats the current champion (or there is none)."""
    current = champion(client, name)
    prev_version = prev_value = None
    if current is not None and str(current.version) != str(version):
        prev_version = str(current.version)
        raw = current.tags.get(metric)
        prev_value = float(raw) if raw is not None else None
    if current is None:
        promoted, reason = True, "no champion yet"
    elif prev_value is None:
        promoted, reason = True, f"champion v{prev_version} has no {metric} to compare"
    else:
        better = value > prev_value if higher_is_better else value < prev_value
        sign = ">" if higher_is_better else "<"
        promoted = better
        reason = (
            f"{metric} {value:.4f} {sign} champion v{prev_version}'s {prev_value:.4f}"
            if better
            else f"{metric} {value:.4f} does not beat champion v{prev_version}'s {prev_value:.4f}"
        )
    if promoted:
        promote(client, name, str(version), prev_version)
    describe_version(client, name, str(version), metric, value, reason, promoted)
    decision = Decision(
        name,
        str(version),
        metric,
        value,
        higher_is_better,
        prev_version,
        prev_value,
        promoted,
        reason,
    )
    client.set_model_version_tag(name, str(version), "champion_decision", reason)
    client.set_model_version_tag(name, str(version), "promoted", str(promoted).lower())
    return decision


def describe_version(
    client: MlflowClient,
    name: str,
    version: str,
    metric: str,
    value: float,
    reason: str,
    promoted: bool,
) -> None:
    """Descriptions the Models page shows: the model's, and this version's test and decision."""
    verdict = "champion" if promoted else "not promoted"
    client.update_model_version(
        name, version, description=f"{metric} = {value:.4f} on the test split; {verdict}: {reason}"
    )
    client.update_registered_model(
        name,
        description=f"sweepflow task `{name}`: the `champion` alias is the best version so far "
        f"by {metric}; every search and retrain registers a version with its test metrics",
    )


def version_of_run(client: MlflowClient, name: str, run_id: str) -> str | None:
    """The version already registered from `run_id` (a resumed run that was cut off), if any."""
    try:
        found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    complete = [v for v in found if "headline_metric" in v.tags]
    return str(max(int(v.version) for v in complete)) if complete else None


def register_version(
    tracker: Tracker, run_id: str, name: str, data: Prepared, evaluation: Evaluation
) -> str:
    """Log the final model on `run_id`, register it as a new version tagged with its metrics.

    The version is created with its test metrics as tags in one call, so no version exists
    without its evaluation; a run cut off after that reuses its version when resumed.
    """
    existing = version_of_run(tracker.client, name, run_id)
    if existing is not None:
        log.info("%s: version %s was already registered from this run; reusing it", name, existing)
        return existing
    tags = {key: repr(float(value)) for key, value in evaluation.metrics.items()}
    tags.update({"run_id": run_id, "headline_metric": evaluation.headline})
    # MLflow prints "Successfully registered model" / "Created version" straight to stderr; they
    # follow the registry logger's level, which the CLI lowers unless VERBOSE=1
    echo = logging.getLogger("mlflow.tracking._model_registry.client").isEnabledFor(logging.INFO)
    quiet = contextlib.nullcontext() if echo else contextlib.redirect_stderr(io.StringIO())
    with mlflow_at(tracker.uri):
        with tempfile.TemporaryDirectory() as tmp:
            uri = log_final_model(tracker, run_id, data, evaluation, Path(tmp))
        with quiet:
            version = mlflow.register_model(uri, name, tags=tags)
    return str(version.version)


def register(
    tracker: Tracker, run_id: str, name: str, data: Prepared, evaluation: Evaluation
) -> Decision:
    """Log and register the final model, tag it with its test metrics, apply the champion rule."""
    version = register_version(tracker, run_id, name, data, evaluation)
    decision = promote_if_better(
        tracker.client,
        name,
        version,
        evaluation.headline,
        evaluation.value,
        evaluation.higher_is_better,
    )
    tags = {f"champion.{k}": plain(v) for k, v in asdict(decision).items()}
    tags.update({"registered_version": str(version), "promoted": plain(decision.promoted)})
    tracker.log(run_id, tags=tags)
    log.info(
        "%s: registered version %s; %s → %s",
        name,
        version,
        decision.reason,
        "now champion" if decision.promoted else "champion unchanged",
    )
    return decision
