"""A plain PyTorch training loop that streams its metrics to Esper Sanctum.

    python examples/train_torch.py --server localhost:50051 --steps 300
    esper-tui --server localhost:50051          # watch it (another terminal or machine)

A small MLP learns a noisy 2-D spiral. Everything Esper needs is the three marked lines:
`init` declares the run (its hyperparameters and tags), `run.log` sends scalars without
ever blocking the loop, and leaving the `with` block says how the run ended.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import esper_client


def spiral(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of two interleaved spirals (labels 0 and 1) with a little noise."""
    t = torch.rand(n, generator=generator) * 3 * math.pi
    label = torch.randint(0, 2, (n,), generator=generator)
    angle = t + label * math.pi
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1) / (3 * math.pi)
    return x + 0.02 * torch.randn(n, 2, generator=generator), label


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="localhost:50051", help="sanctum HOST:PORT")
    parser.add_argument("--run-id", default=None, help="default: train_torch-<time>-<hex>")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-2)
    args = parser.parse_args(argv)

    torch.manual_seed(0)  # the model's initial weights: the same run every time
    g = torch.Generator().manual_seed(0)
    x, y = spiral(2048, g)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 2))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    config = {"lr": args.lr, "steps": args.steps, "hidden": 64, "optimizer": "adam"}

    with esper_client.init(server=args.server, run_id=args.run_id, config=config,  # esper
                           tags=["example", "spiral"]) as run:                      # esper
        for step in range(args.steps):
            idx = torch.randint(0, len(x), (128,), generator=g)
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            acc = (logits.argmax(1) == y[idx]).float().mean()
            run.log({"loss": loss.item(), "accuracy": acc.item()}, step=step)      # esper
    print(f"run {run.run_id}: final loss {loss.item():.3f}, accuracy {acc.item():.2f}")


if __name__ == "__main__":
    main()
