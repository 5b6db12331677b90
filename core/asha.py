"""Asynchronous successive halving (ASHA, Li et al. 2018, "A System for Massively Parallel Hyperparameter
Tuning"): the early stopping of a local sweep's poor trials.

Trials are compared at the same epoch. The rungs are the epochs `grace_epochs * reduction_factor**k` below the
trials' epochs; when a trial reaches a rung, it goes on only if its loss is among the best `1 / reduction_factor`
of the losses recorded at that rung so far (the cutoff is that quantile of the others'). The first trial at a rung
always goes on, and no trial waits for another: that is what makes it asynchronous. This follows Ray Tune's
`ASHAScheduler` (one bracket, mode "min"), which decides for sweeps that run on Ray, so both places stop the same
trials given the same results.
"""

from __future__ import annotations

import math

import numpy as np


class AsyncSuccessiveHalving:
    """Decides, from each trial's loss after each epoch, whether the trial goes on."""

    def __init__(self, max_epochs: int, grace_epochs: int = 1, reduction_factor: int = 2) -> None:
        """
        Args:
            max_epochs: the epochs a trial trains if never stopped; no rung lies at or beyond it.
            grace_epochs: the first rung: no trial is stopped before it has trained this many epochs.
            reduction_factor: the fraction 1 / reduction_factor of trials goes on at each rung.
        """
        self.reduction_factor = reduction_factor
        rung_count = int(math.log(max_epochs / grace_epochs) / math.log(reduction_factor) + 1 + 1e-9)
        self.rungs = [grace_epochs * reduction_factor**level for level in range(max(rung_count, 0))]
        self.rungs = [rung for rung in self.rungs if rung < max_epochs]
        self.recorded: dict[int, dict[str, float]] = {rung: {} for rung in self.rungs}

    def cutoff(self, rung: int, excluding: str) -> float | None:
        """The loss a trial must not exceed at `rung`: the 1/reduction_factor quantile of the others recorded."""
        values = [value for trial, value in self.recorded[rung].items() if trial != excluding]
        return float(np.nanpercentile(values, 100 / self.reduction_factor)) if values else None

    def on_result(self, trial: str, epoch: int, loss: float | None) -> bool:
        """Records a trial's loss after `epoch`; returns False when the trial should stop.

        A rung is judged once per trial, at its first result at or beyond the rung, as Ray Tune's ASHA does.
        """
        if loss is not None and not math.isfinite(loss):
            return False
        for rung in reversed(self.rungs):  # The highest rung reached decides.
            if epoch < rung:
                continue
            if trial in self.recorded[rung]:
                return True  # Judged at this rung already, and it went on.
            cutoff = self.cutoff(rung, trial)
            if loss is None:
                return True
            self.recorded[rung][trial] = loss
            return cutoff is None or loss <= cutoff
        return True
