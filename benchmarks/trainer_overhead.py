"""How much does the edgevision training loop cost on top of a bare forward + backward + SGD step?

LeNet-5 on MNIST at batch 64. The *raw* loop indexes pre-normalized float tensors and runs forward, cross-entropy,
zero_grad, backward and SGD.step — nothing else. The *trainer* step is the real loop: seeded batch order from the
in-memory loader (uint8 → float → normalize), the classification task, LR schedule, callbacks, meter updates and
the progress bar. Both run in the same process, interleaved ``--repeats`` times; the overhead is the median of the
per-pair ratios.

    overhead_fraction = trainer step time / raw step time − 1   (target ≤ 0.15)

Usage: python benchmarks/trainer_overhead.py [--steps 100] [--repeats 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from _common import require, save
from edgevision.configs.train import TrainConfig
from edgevision.data import DataConfig, load_data
from edgevision.models import build_model
from edgevision.tasks import build_task
from edgevision.train.stage import make_loaders
from edgevision.train.trainer import Trainer


def raw_loop(model, x, y, steps: int, bs: int, lr: float) -> float:
    """Seconds per step of the bare loop over pre-normalized tensors."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    n = len(x)
    t0 = time.perf_counter()
    for s in range(steps):
        i = (s * bs) % (n - bs)
        loss = F.cross_entropy(model(x[i:i + bs]), y[i:i + bs])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def trainer_loop(trainer: Trainer, steps: int, epoch: int) -> float:
    t0 = time.perf_counter()
    trainer.train_epoch(epoch)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    splits = load_data(DataConfig(source=f"mnist:{require('mnist')}", val_fraction=0.0))
    ds = splits.train
    x = ((ds.images.float() / 255 - splits.mean[0]) / splits.std[0]).contiguous()
    y = ds.targets["label"]
    cfg = TrainConfig(epochs=1, batch_size=args.batch, lr=0.01, weight_decay=0.0, schedule="none",
                      max_steps_per_epoch=args.steps)
    task = build_task({"name": "classification", "class_names": splits.class_names})
    torch.manual_seed(0)
    m_raw, m_tr = build_model("lenet5"), build_model("lenet5")
    train_loader, _, _ = make_loaders(splits, cfg, None, seed=0)
    trainer = Trainer(m_tr, task, train_loader, None, cfg, run=None, verbose=False)
    raw_loop(m_raw, x, y, 20, args.batch, 0.01)  # warm-up both paths
    trainer_loop(trainer, args.steps, 0)
    raw, tr = [], []
    for r in range(args.repeats):
        raw.append(raw_loop(m_raw, x, y, args.steps, args.batch, 0.01))
        tr.append(trainer_loop(trainer, args.steps, r + 1))
        print(f"repeat {r + 1}: raw {raw[-1] * 1e3:.3f} ms/step, trainer {tr[-1] * 1e3:.3f} ms/step")
    raw_ms, tr_ms = statistics.median(raw) * 1e3, statistics.median(tr) * 1e3
    ratio = statistics.median(t / r for t, r in zip(tr, raw))  # per adjacent pair: robust to load drifting
    result = {"overhead_fraction": round(ratio - 1, 4), "images_per_second": round(args.batch / tr_ms * 1e3, 1),
              "raw_images_per_second": round(args.batch / raw_ms * 1e3, 1), "raw_step_ms": round(raw_ms, 4),
              "trainer_step_ms": round(tr_ms, 4), "model": "lenet5", "data": "mnist", "batch": args.batch,
              "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
              "raw_step_ms_all": [round(v * 1e3, 4) for v in raw],
              "trainer_step_ms_all": [round(v * 1e3, 4) for v in tr]}
    print(f"overhead {result['overhead_fraction']:+.1%}  (median step {tr_ms:.3f} vs {raw_ms:.3f} ms), "
          f"{result['images_per_second']:.0f} img/s through the trainer")
    save("trainer_overhead", result)


if __name__ == "__main__":
    main()
