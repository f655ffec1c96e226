"""Training throughput on synthetic batches (the network alone), for the speed and scale benchmarks."""

from __future__ import annotations

import time

import torch
from torch.nn.functional import mse_loss

from tacrefine.policy.model import ModelConfig, TacRefineNet


def measure_training_throughput(model_cfg: ModelConfig, tactile_shape: tuple[int, int, int, int],
                                batch_size: int = 256, steps: int = 10, warmup: int = 3,
                                num_threads: int = 2) -> float:
    """Optimiser steps on synthetic batches; returns training samples (pairs) per second.

    Measures the network (forward, backward, AdamW) alone; the per-epoch ``samples_per_s``
    in ``metrics.csv`` includes pair sampling and augmentation as well.
    """
    nf, ch, rows, cols = tactile_shape
    model_cfg = model_cfg.resolved(model_cfg.dofs or ("y", "z", "roll", "pitch"), nf, ch)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        gen = torch.Generator().manual_seed(0)
        model = TacRefineNet(model_cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        cur = torch.rand(batch_size, nf, ch, rows, cols, generator=gen)
        tgt = torch.rand(batch_size, nf, ch, rows, cols, generator=gen)
        proprio = torch.randn(batch_size, 2 * nf, generator=gen)
        label = torch.randn(batch_size, model.n_dofs, generator=gen)
        t0 = 0.0
        for i in range(warmup + steps):
            if i == warmup:
                t0 = time.perf_counter()
            loss = mse_loss(model(cur, tgt, proprio), label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return steps * batch_size / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old_threads)


def training_cost(candidates: dict[str, tuple[ModelConfig, tuple[int, int, int, int], int]],
                  rounds: int = 5, steps: int = 6) -> dict[str, float]:
    """Training pairs per CPU second of each ``{name: (model config, tactile shape, batch)}``,
    on one thread, median of ``rounds`` interleaved rounds of ``steps`` optimiser steps.

    Why CPU time: on a shared, loaded machine wall time mostly measures the neighbours;
    process CPU time of one thread measures the work a candidate costs, and interleaving
    spreads what remains (cache, clock) over every candidate alike.
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        runs = []
        for name, (model_cfg, (nf, ch, rows, cols), batch) in candidates.items():
            cfg = model_cfg.resolved(model_cfg.dofs or ("y", "z", "roll", "pitch"), nf, ch)
            model = TacRefineNet(cfg)
            inputs = (torch.rand(batch, nf, ch, rows, cols, generator=gen),
                      torch.rand(batch, nf, ch, rows, cols, generator=gen), torch.randn(batch, 2 * nf, generator=gen))
            runs.append((name, model, torch.optim.AdamW(model.parameters(), lr=1e-3), inputs,
                         torch.randn(batch, model.n_dofs, generator=gen), batch))
        rates: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(rounds):
            for name, model, opt, inputs, label, batch in runs:
                t0 = time.process_time()
                for _ in range(steps):
                    loss = mse_loss(model(*inputs), label)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                rates[name].append(steps * batch / max(time.process_time() - t0, 1e-9))
        return {name: sorted(r)[len(r) // 2] for name, r in rates.items()}
    finally:
        torch.set_num_threads(old_threads)
