"""The ``cluster`` stage: k-means weight sharing with centroid fine-tuning (Deep Compression, stage 2).

Each selected layer's nonzero weights are clustered into k = 2^bits shared values (per tensor, or per output
channel), so a weight is stored as a log2(k)-bit index into a codebook: Han et al. (2016) use 8 bits for
conv and 5 for fully connected layers (``bits: {conv: 8, linear: 5}``). Pruned weights stay exactly zero and
are not clustered. The shared values are then fine-tuned with the gradient of each centroid,

    ∂L/∂c_j = Σ_i ∂L/∂w_i · 1[I_i = j],

implemented by :class:`CentroidCallback`: after ``backward()`` it replaces every weight's gradient by the
summed gradient of its cluster, so every member of a cluster receives the identical update (under SGD with
momentum and weight decay, and Adam, because their state stays identical too) — which *is* the centroid
update — and after the step it re-ties the members and re-zeroes the pruned weights and their optimizer state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ...config import dump
from ...configs.compress import ClusterConfig
from ...errors import ConfigError
from ...runs import RunDir
from ...stages import StageResult, run_stage, stage
from ...train.objects import module_input
from ...utils.progress import console, make_progress
from ..finetune import already_done, evaluate_test, finetune, finish, open_context, weights_of
from ..unstructured.histograms import write_histograms
from ..unstructured.masks import MaskCallback
from ..unstructured.targets import resolve, select, weight
from .kmeans import Init, kmeans_1d

if TYPE_CHECKING:
    from ...train.trainer import Trainer





def cluster_weight(w: torch.Tensor, bits: int, init: Init, per_channel: bool, seed: int = 0,
                   max_iter: int = 300) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Share the nonzero values of ``w``.

    Returns:
        shared weights (w's shape, zeros kept +0.0), labels (w's shape; global cluster id, −1 at zeros),
        and the number of clusters (ids are ``row·k + j`` when per channel).
    """
    k = 1 << bits
    flat = w.detach().reshape(w.shape[0] if per_channel else 1, -1).double().numpy()
    labels = np.full(flat.shape, -1, dtype=np.int64)
    shared = np.zeros(flat.shape, dtype=np.float64)
    for r, row in enumerate(flat):
        nz = row != 0
        cent, lab = kmeans_1d(row[nz], k, init, seed + r, max_iter)
        labels[r, nz] = lab + r * k
        shared[r, nz] = cent[lab]
    out = torch.from_numpy(shared.astype(np.float32)).reshape(w.shape)
    return out, torch.from_numpy(labels).reshape(w.shape), k * flat.shape[0]


class CentroidCallback(MaskCallback):
    """Trains shared weights: ``grad_i ← Σ_{l: I_l = I_i} grad_l`` (see module doc); labels −1 are pruned."""

    def __init__(self, params: dict[str, nn.Parameter], labels: dict[str, torch.Tensor],
                 clusters: dict[str, int], codebook_dtype: str = "fp32") -> None:
        super().__init__(params, {n: lab >= 0 for n, lab in labels.items()})
        self.clusters, self.codebook_dtype = clusters, codebook_dtype
        self.set_labels(labels)

    def set_labels(self, labels: dict[str, torch.Tensor]) -> None:
        """Install cluster ids, and for each cluster the flat index of one member (its representative)."""
        self.labels = {n: lab.long() for n, lab in labels.items()}
        self.members: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for n, lab in self.labels.items():
            ids, first = np.unique(lab.reshape(-1).numpy(), return_index=True)
            keep = ids >= 0
            self.members[n] = (torch.from_numpy(ids[keep]), torch.from_numpy(first[keep]))

    @torch.no_grad()
    def centroid_grads(self) -> dict[str, torch.Tensor]:
        """∂L/∂c_j = Σ_i ∂L/∂w_i·1[I_i = j] for every layer (from the weights' current gradients)."""
        out = {}
        for n, p in self.params.items():
            if p.grad is None:
                continue
            lab = self.labels[n].reshape(-1)
            live = lab >= 0
            out[n] = torch.zeros(self.clusters[n], dtype=p.grad.dtype).index_add_(
                0, lab[live], p.grad.reshape(-1)[live])
        return out

    @torch.no_grad()
    def on_before_step(self, trainer: Trainer | None = None) -> None:
        for n, g in self.centroid_grads().items():
            lab = self.labels[n]
            self.params[n].grad.copy_(torch.where(lab >= 0, g[lab.clamp(min=0)], torch.zeros(())))

    @torch.no_grad()
    def retie(self, round_fp16: bool = False) -> dict[str, torch.Tensor]:
        """Set every member to its cluster's value (the first member's); returns the centroids per layer."""
        cents = {}
        for n, p in self.params.items():
            lab = self.labels[n].reshape(-1)
            live = torch.nonzero(lab >= 0).squeeze(1)
            ids, first = self.members[n]
            c = torch.zeros(self.clusters[n], dtype=p.dtype)
            c[ids] = p.reshape(-1)[first]
            if round_fp16:
                c = c.half().float()
            p.reshape(-1)[live] = c[lab[live]]
            cents[n] = c
        return cents

    def on_step_end(self, trainer: Trainer | None = None) -> None:
        self.retie()
        self.apply(trainer.opt if trainer is not None else None)

    def on_fit_end(self, trainer: Trainer | None = None) -> None:
        self.retie(round_fp16=self.codebook_dtype == "fp16")
        self.apply()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "labels": {n: v.clone() for n, v in self.labels.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.set_labels(state.get("labels") or self.labels)


def share_layers(params: dict[str, nn.Parameter], bits: dict[str, int], cfg: ClusterConfig) -> CentroidCallback:
    """Run k-means on every layer, write the shared values into the weights, and build the callback."""
    labels, clusters = {}, {}
    with make_progress() as bar:
        job = bar.add_task("k-means", total=len(params))
        for n, p in params.items():
            shared, lab, k = cluster_weight(p, bits[n], cfg.centroid_init, cfg.per_channel and p.ndim > 1, cfg.seed,
                                            cfg.max_iter)
            with torch.no_grad():
                p.copy_(shared)
            labels[n], clusters[n] = lab, k
            bar.update(job, advance=1)
    return CentroidCallback(params, labels, clusters, cfg.codebook_dtype)


def codebooks(cb: CentroidCallback) -> dict[str, list[float]]:
    """The distinct shared (nonzero) values of each layer (for the report's histograms)."""
    return {n: p.detach()[p != 0].unique().tolist() for n, p in cb.params.items()}


@stage("cluster", ClusterConfig, input_field="artifact", summary="k-means weight sharing with centroid fine-tuning")
def run_cluster(cfg: ClusterConfig, out: Path) -> StageResult:
    run = RunDir(out)
    if (done := already_done(run, cfg)) is not None:
        return done
    ctx = open_context(cfg)
    run.mkdir().write_config(dump(cfg))
    model = ctx.art.model
    selected = select(model, cfg.layers, "layers")
    bits = resolve(cfg.bits, selected, "bits")
    if bad := {n: b for n, b in bits.items() if not 1 <= int(b) <= 16}:
        raise ConfigError(f"bits: must be in [1, 16], got {bad}")
    params = {n: weight(selected[n]) for n in bits}
    before = weights_of({n: selected[n] for n in bits})
    if cfg.bias_bits:  # biases are shared per tensor, like Deep Compression's weights, when asked for
        biases = {f"{n}.bias": b for n in list(bits) if (b := selected[n]._parameters.get("bias")) is not None}
        params.update(biases)
        bits.update(dict.fromkeys(biases, cfg.bias_bits))
    console.print(f"cluster {len(params)} layers of {ctx.art.arch.label}: {cfg.centroid_init} init, "
                  f"{'per channel' if cfg.per_channel else 'per tensor'}, bits {sorted(set(bits.values()))}",
                  highlight=False, soft_wrap=True)
    cb = share_layers(params, bits, cfg)
    metrics = finetune(model, ctx, cfg, run, [cb])
    if cfg.keep == "best":
        cb.on_fit_end()  # best.pt holds tied weights; round and re-zero again after loading it
    metrics = evaluate_test(model, ctx, run, metrics)
    books = codebooks(cb) if not cfg.per_channel else {}
    write_histograms(run.path / "weights_hist.json", "cluster", before, {n: params[n].detach() for n in before},
                     books)
    record = {"bits": bits, "init": cfg.centroid_init, "per_channel": cfg.per_channel,
              "codebook_dtype": cfg.codebook_dtype,
              "shared_values": {n: len(v) for n, v in books.items()}}
    return finish(model, ctx, run, "cluster", metrics, {"bits": bits}, {"cluster": record})


def cluster(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Share weights by k-means and fine-tune the centroids; ``edgevision cluster`` in Python.

    Example:
        >>> edgevision.cluster("runs/lenet/prune", bits={"conv": 8, "linear": 5}, epochs=3, out="runs/lenet/cluster")
    """
    artifact, out, options = module_input(artifact, "cluster", out, options)
    return run_stage("cluster", {"artifact": str(artifact), **options}, out)
