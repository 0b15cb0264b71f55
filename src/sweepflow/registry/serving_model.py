"""Model-from-code entry MLflow executes when it loads a sweepflow model (no pickled class)."""

import mlflow.models

from sweepflow.registry.serving import SweepflowModel

mlflow.models.set_model(SweepflowModel())
