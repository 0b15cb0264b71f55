"""Early stopping's monitor: which validation metric picks a run's best epoch (no Keras import)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Monitor:
    """What early stopping watches and which way is better; its best epoch's weights are kept."""

    name: str = "val_loss"
    mode: str = "min"  # min | max

    def best_index(self, values: list[float]) -> int:
        """Index of the best finite value (non-finite values never win)."""
        worst = math.inf if self.mode == "min" else -math.inf
        clean = [v if math.isfinite(v) else worst for v in values]
        return int(np.argmin(clean) if self.mode == "min" else np.argmax(clean))


VAL_LOSS = Monitor()
