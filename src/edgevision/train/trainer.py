"""One training loop for every task, and for distillation (which is a task wrapping another task).

Per epoch: reseed from (seed, epoch) → train steps (task.step → backward → callbacks → optimizer.step → the
weight average, with ``ema``) → validate → schedule → log a line to ``metrics.jsonl`` → write ``last.pt`` (and
``best.pt`` on improvement) atomically → early-stopping check. ``fit(resume=True)`` restores ``last.pt`` and
continues; because order, augmentation, dropout and learning rate are all functions of (seed, epoch, step), the
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..configs.train import TrainConfig
from ..data.loader import BatchLoader
from ..errors import ArtifactError, EdgevisionError, cause_of
from ..runs import RunDir
from ..tasks.base import Task
from ..utils.io import write_text
from ..utils.progress import console, make_progress
from ..utils.seed import derive_seed
from . import checkpoint
from .callbacks import Callback, ambient_callbacks
from .distributed import Dist, average_grads, broadcast_flag
from .ema import WeightEMA
from .optim import apply_max_norm, lr_factor, make_optimizer, set_lr
from .transfer import frozen_norms


class TrainingDiverged(EdgevisionError):
    """The loss became NaN or infinite."""


@dataclasses.dataclass
class LoopState:
    epoch: int = 0  # the next epoch to run
    best: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0  # epochs since the monitored metric last improved (early stopping)
    monitor_best: float | None = None
    plateau_best: float | None = None
    plateau_bad: int = 0
    plateau_drops: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """Keep the scalar metrics (for logs), prefixed with ``train_`` / ``val_``."""
    return {f"{prefix}{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float) and k != "n"}


class Trainer:
    """Trains ``model`` on ``task``; writes checkpoints and metrics into ``run`` (rank 0 only)."""

    def __init__(self, model: nn.Module, task: Task, train_loader: BatchLoader, val_loader: BatchLoader | None,
                 cfg: TrainConfig, run: RunDir | None = None, callbacks: Sequence[Callback] = (),
                 dist: Dist | None = None, verbose: bool = True) -> None:
        dist = dist or Dist()
        self.model, self.task, self.cfg, self.run, self.dist = model, task, cfg, run, dist
        self.train_loader, self.val_loader = train_loader, val_loader
        self.callbacks = [*callbacks, *ambient_callbacks()]
        self.verbose = verbose and dist.is_main
        self.aux = task.trainable()  # loss-side parameters (distillation adapters), trained but not saved as model
        self.opt = make_optimizer(model, cfg, self.aux)
        self.net = DistributedDataParallel(model) if dist.enabled else model
        self.ema = WeightEMA(model, cfg.ema, cfg.ema_tau) if cfg.ema else None
        self.state = LoopState()
        self.step_in_epoch = 0
        self.stall_warned = False

    # ------------------------------------------------------------------ paths
    @property
    def ckpt_dir(self) -> Path | None:
        return self.run.path / "checkpoints" if self.run else None

    def _has_val(self) -> bool:
        return self.val_loader is not None and len(self.val_loader.dataset) > 0

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool = False) -> LoopState:
        if resume:
            self.load_checkpoint()
        for cb in self.callbacks:
            cb.on_fit_start(self)
        while self.state.epoch < self.cfg.epochs:
            stop = self._run_epoch(self.state.epoch)
            if broadcast_flag(self.dist, stop):
                break
        if self.ema is not None:  # the stage goes on with the averaged weights
            self.model.load_state_dict(self.ema.module.state_dict())
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.state

    def _run_epoch(self, epoch: int) -> bool:
        torch.manual_seed(derive_seed(self.cfg.seed, epoch, 1))  # dropout & friends replay after resume
        for cb in self.callbacks:
            cb.on_epoch_start(self, epoch)
        t0 = time.perf_counter()
        train_m = self.train_epoch(epoch)
        val_m = self.evaluate(self.val_loader, self.ema.module if self.ema else None) if self._has_val() else {}
        record = {"epoch": epoch + 1, "lr": self.opt.param_groups[0]["lr"] / self.opt.param_groups[0]["lr_mult"],
                  "time_s": round(time.perf_counter() - t0, 3), **scalars(train_m, "train_"), **scalars(val_m, "val_")}
        improved = self._update_state(epoch, val_m or train_m, bool(val_m))
        self.state.history.append(record)
        self.state.epoch = epoch + 1
        if self.dist.is_main and self.run:
            self.run.log(record)
            if improved:
                kept = self.ema.module if self.ema else self.model
                checkpoint.save(self.ckpt_dir / "best.pt", {"model": kept.state_dict(), "epoch": epoch + 1})
            self.save_checkpoint()
        if self.verbose:
            self._print_epoch(record)
            self._warn_if_stalled()
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, record)
        return bool(self.cfg.early_stop) and self.state.bad_epochs >= self.cfg.early_stop

    def _update_state(self, epoch: int, m: dict[str, Any], is_val: bool) -> bool:
        """Track the best epoch (primary metric on val, else train loss) and the plateau schedule."""
        key, mode = (self.task.primary, self.task.mode) if is_val else ("loss", "min")
        value = m.get(key, m.get("loss"))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = -math.inf if mode == "max" else math.inf
        better = lambda a, b: b is None or (a > b if mode == "max" else a < b)  # noqa: E731
        s = self.state
        if better(value, s.plateau_best):
            s.plateau_best, s.plateau_bad = value, 0
        else:
            s.plateau_bad += 1
            if s.plateau_bad > self.cfg.plateau_patience:
                s.plateau_drops, s.plateau_bad = s.plateau_drops + 1, 0
        if better(value, s.monitor_best):  # early stopping watches the metric whatever weights are kept
            s.monitor_best, s.bad_epochs = value, 0
        else:
            s.bad_epochs += 1
        improved = self.cfg.keep == "last" or better(value, s.best)
        if improved:
            s.best, s.best_epoch = value, epoch + 1
        return improved

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        self.net.train()
        for m in frozen_norms(self.model):  # a frozen BatchNorm keeps its running statistics too
            m.eval()
        if self.aux is not None:
            self.aux.train()
        self.train_loader.set_epoch(epoch)
        meter = self.task.meter()
        n_steps = len(self.train_loader)
        if self.cfg.max_steps_per_epoch:
            n_steps = min(n_steps, self.cfg.max_steps_per_epoch)
        loss_sum, metric_sum, n_seen = 0.0, 0.0, 0
        name = self.task.primary
        with make_progress("loss", name) as bar:
            job = bar.add_task(f"epoch {epoch + 1}/{self.cfg.epochs}", total=n_steps, loss="-", **{name: "-"})
            for step, batch in enumerate(self.train_loader):
                if step >= n_steps:
                    break
                if "image" not in batch:
                    continue
                set_lr(self.opt, self.cfg.lr, lr_factor(self.cfg, epoch + step / n_steps, self.state.plateau_drops))
                self.step_in_epoch = step
                out = self.train_step(batch, epoch, step)
                meter.update(out, batch)
                n = len(batch["image"])
                loss_sum += float(out["loss"]) * n
                n_seen += n
                shown = {"loss": f"{loss_sum / n_seen:.4f}"}
                if bar.live.is_started and (m := self.task.batch_metric(out, batch)) is not None:
                    metric_sum += m * n
                    shown[name] = f"{metric_sum / n_seen:.4f}"
                bar.update(job, advance=1, **shown)
        if self.verbose:
            self.train_loader.report_unreadable()  # one line naming the files first met in this epoch
        return meter.compute()

    def train_step(self, batch: dict[str, Any], epoch: int = 0, step: int = 0) -> dict[str, Any]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16):
            out = self.task.step(self.net, batch)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                                   f"lower the learning rate (lr={self.cfg.lr}) or enable grad_clip")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.aux is not None and self.dist.enabled:
            average_grads(self.aux)  # DDP syncs the model's gradients only
        for cb in self.callbacks:
            cb.on_before_step(self)
        if self.cfg.grad_clip:
            params = [*self.model.parameters(), *(self.aux.parameters() if self.aux is not None else [])]
            nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.opt.step()
        if self.cfg.max_norm:
            apply_max_norm(self.model, self.cfg.max_norm)
        for cb in self.callbacks:
            cb.on_step_end(self)
        if self.ema is not None:
            self.ema.update(self.model)
        out["loss"] = loss.detach()
        return out

    @torch.inference_mode()
    def evaluate(self, loader: BatchLoader, model: nn.Module | None = None) -> dict[str, Any]:
        """Metrics of ``model`` (default: the trained network) on ``loader``."""
        return evaluate_model(model or self.net, self.task, loader, self.cfg.bf16)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        payload = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                   "state": dataclasses.asdict(self.state), "callbacks": [cb.state_dict() for cb in self.callbacks],
                   "config": self.cfg.model_dump(mode="json")}
        if self.aux is not None:
            payload["aux"] = self.aux.state_dict()
        if self.ema is not None:
            payload["ema"] = self.ema.state_dict()
        checkpoint.save(self.ckpt_dir / "last.pt", payload)

    def load_checkpoint(self) -> None:
        """Restore model, optimizer, loop state and callback state from ``last.pt``; rewrite metrics.jsonl."""
        if not self.ckpt_dir or not (self.ckpt_dir / "last.pt").exists():
            return  # nothing to resume: start from scratch
        data = checkpoint.load(self.ckpt_dir / "last.pt")
        try:
            self.model.load_state_dict(data["model"])
            self.opt.load_state_dict(data["optimizer"])
            if self.aux is not None and "aux" in data:
                self.aux.load_state_dict(data["aux"])
            if self.ema is not None and "ema" in data:
                self.ema.load_state_dict(data["ema"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise ArtifactError(f"{self.ckpt_dir / 'last.pt'} does not match this model/optimizer ({cause_of(e)}); "
                                f"resume with the options of the original run") from None
        self.state = LoopState(**data["state"])
        for cb, st in zip(self.callbacks, data.get("callbacks", [])):
            cb.load_state_dict(st)
        if self.dist.is_main and self.run:

            write_text(self.run.metrics_path, "".join(json.dumps(r) + "\n" for r in self.state.history))
        if self.verbose:
            console.print(f"resumed from {self.ckpt_dir / 'last.pt'} at epoch {self.state.epoch + 1}")

    def load_best(self) -> None:
        """Load the weights of the best epoch (or keep the last ones when ``keep='last'``)."""
        if self.cfg.keep == "best" and self.ckpt_dir and (self.ckpt_dir / "best.pt").exists():
            self.model.load_state_dict(checkpoint.load(self.ckpt_dir / "best.pt")["model"])

    def _warn_if_stalled(self) -> None:
        """Warn once when the training loss has stayed at chance, flat, for the last two epochs after the warm-up.

        Chance is the task's :meth:`Task.chance_loss` (``ln K`` for K classes); ``≥ 0.98·ln K`` counts, since a
        constant output that learnt the class priors sits just below ``ln K``; flat means it fell by less than
        ``0.001·ln K`` (a slow start still falls). Typical causes: dead ReLUs (a too high learning rate) or a
        signal that vanishes through a deep net without BatchNorm.
        """
        chance, hist = self.task.chance_loss(), self.state.history
        if self.stall_warned or chance is None or len(hist) < 2 or len(hist) <= self.cfg.warmup_epochs:
            return
        a, b = (r.get("train_loss", 0.0) for r in hist[-2:])
        if min(a, b) >= 0.98 * chance and b >= a - 1e-3 * chance:  # near chance and flat, not a slow start
            self.stall_warned = True
            console.print(f"[yellow]warning:[/] the training loss has stayed at chance ({chance:.4f}, an output "
                          f"that ignores the image) for 2 epochs: the network is not learning. Try a lower --lr, "
                          f"or --model-kwargs bn=true (or leaky=0.1) if the model has those options", highlight=False)

    def _print_epoch(self, r: dict[str, Any]) -> None:
        p = self.task.primary
        parts = [f"epoch {r['epoch']}/{self.cfg.epochs}", f"loss {r.get('train_loss', float('nan')):.4f}"]
        if f"train_{p}" in r:
            parts.append(f"train {p} {r[f'train_{p}']:.4f}")
        if f"val_{p}" in r:
            parts.append(f"val {p} {r[f'val_{p}']:.4f}")
        parts.append(f"{r['time_s']:.1f}s")
        console.print("  ".join(parts), highlight=False)


def evaluate_model(model: nn.Module, task: Task, loader: BatchLoader, bf16: bool = False,
                   on_batch: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``task.step`` over ``loader`` without gradients and return the task's metrics.

    ``on_batch(step_output, batch)`` sees every batch too (the eval gallery collects its worst samples so).
    """
    was = model.training
    model.eval()
    meter = task.meter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for batch in loader:
            if "image" in batch:
                out = task.step(model, batch)
                meter.update(out, batch)
                if on_batch is not None:
                    on_batch(out, batch)
    model.train(was)
    loader.report_unreadable()
    return meter.compute()
