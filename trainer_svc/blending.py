"""How a seed joins the host (its style) and how its blend weight alpha moves (ramps).

A style combines the host activation h with the seed's output s at weight alpha; every
style is the identity at alpha = 0, so a seed with alpha 0 leaves the host unchanged. A ramp
moves alpha from one value to another over a number of epochs along a curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Steepness of the SIGMOID curve: close to a step, still monotone and exact at 0 and 1.
SIGMOID_STEEPNESS = 10.0


def blend(style: str, h: torch.Tensor, s: torch.Tensor, alpha: float) -> torch.Tensor:
    """ADD: h + a*s; MULTIPLY: h * (1 + a*tanh s) (the seed rescales h per feature);
    GATE: h + a*sigmoid(s)*s (the seed gates its own update, damping negative outputs)."""
    if style == "ADD":
        return h + alpha * s
    if style == "MULTIPLY":
        return h * (1.0 + alpha * torch.tanh(s))
    if style == "GATE":
        return h + alpha * torch.sigmoid(s) * s
    raise ValueError(f"unknown style {style!r}")


def curve(name: str, t: float) -> float:
    """Progress 0..1 of a move at time fraction t in [0, 1]: LINEAR t; COSINE eases in and
    out, (1 - cos(pi t)) / 2; SIGMOID a logistic rescaled to hit 0 and 1 exactly."""
    t = min(max(t, 0.0), 1.0)
    if name == "LINEAR":
        return t
    if name == "COSINE":
        return (1.0 - math.cos(math.pi * t)) / 2.0
    if name == "SIGMOID":
        k = SIGMOID_STEEPNESS

        def f(x: float) -> float:
            return 1.0 / (1.0 + math.exp(-k * (x - 0.5)))

        return (f(t) - f(0.0)) / (f(1.0) - f(0.0))
    raise ValueError(f"unknown curve {name!r}")


@dataclass
class AlphaRamp:
    """alpha moving from `start` to `end` over `epochs` epochs (>= 1) along `curve`."""

    start: float
    end: float
    epochs: int
    curve: str = "LINEAR"
    done: int = 0

    def step(self) -> float:
        """Advance one epoch; the new alpha (exactly `end` on the last epoch)."""
        self.done = min(self.epochs, self.done + 1)
        if self.finished:
            return self.end
        return self.start + (self.end - self.start) * curve(self.curve, self.done / self.epochs)

    @property
    def finished(self) -> bool:
        return self.done >= self.epochs
