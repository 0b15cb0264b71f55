"""The registered model: a pyfunc that applies the saved preprocessing, then the Keras network."""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from sweepflow.data.preprocess import Preprocessor, from_dict
from sweepflow.errors import DataError
from sweepflow.model.metrics import predict_labels


def features(pre: Preprocessor, model_input: Any) -> np.ndarray:
    """Raw inputs (as a user holds them) → the network's input matrix."""
    kind = pre.type
    if kind == "image":
        return pre.transform(np.asarray(model_input))
    frame = model_input if isinstance(model_input, pd.DataFrame) else None
    if kind == "tabular":
        if frame is None:
            frame = pd.DataFrame(model_input)
        return pre.transform(frame)
    column = "text" if kind == "text" else "tokens"
    if frame is not None:
        if column not in frame.columns:
            raise DataError(f"input needs a '{column}' column; got {list(frame.columns)}")
        values = frame[column].tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    else:
        values = list(model_input)
    return pre.transform(values)


def decode(
    kind: str, class_names: list[str], scores: np.ndarray, threshold: float = 0.5
) -> pd.DataFrame:
    """Network outputs → a frame of predictions, the same meaning for every kind.

    Regression: `prediction`. Classification: `label` (the class name), `label_index`,
    `probability` (of that label) and one `proba_<class>` column per class (binary: both).
    Binary: `label` is the second class when its probability ≥ the stored threshold.
    """
    if kind == "regression":
        return pd.DataFrame({"prediction": scores.reshape(-1).astype(np.float64)})
    index = predict_labels(kind, scores, threshold).astype(int)  # as final evaluation does
    if kind == "binary":
        positive = scores.reshape(-1).astype(np.float64)
        proba = np.column_stack([1.0 - positive, positive])
    else:
        proba = np.asarray(scores, dtype=np.float64)
    out = pd.DataFrame(
        {
            "label": np.asarray(class_names)[index],
            "label_index": index,
            "probability": proba[np.arange(len(index)), index],
        }
    )
    for j, name in enumerate(class_names):
        out[f"proba_{name}"] = proba[:, j]
    return out


class SweepflowModel(mlflow.pyfunc.PythonModel):
    """Preprocessing (JSON) + network (.keras), loaded from the model's artifacts."""

    # Inputs are validated by the logged signature and the preprocessor, not by type hints.
    _skip_type_hint_validation = True

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the native .keras network and the JSON preprocessing description."""
        import keras

        with open(context.artifacts["metadata"]) as f:
            meta = json.load(f)
        self.meta: dict[str, Any] = meta
        self.kind: str = meta["kind"]
        self.class_names: list[str] = meta["class_names"]
        self.pre = from_dict(meta["preprocessor"])
        self.network = keras.saving.load_model(
            context.artifacts["network"], compile=False, safe_mode=True
        )

    # No annotations on purpose: MLflow would turn them into a (wrong) input schema.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """Predict on raw inputs (a DataFrame of raw columns, texts, token lists or images)."""
        x = features(self.pre, model_input)
        scores = np.asarray(self.network.predict(x, batch_size=1024, verbose=0))
        return decode(self.kind, self.class_names, scores, self.meta.get("threshold", 0.5))
