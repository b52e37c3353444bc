"""The compression stages' configs: prune, sensitivity, cluster, pack, unpack, shrink, lowrank, and the
fine-tuning options they share (:class:`FinetuneConfig`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from .data import AugmentConfig, DataConfig
from .distill import KDConfig
from .train import OVERWRITE_HELP, THREADS_HELP, TrainConfig
from .verb import Verb

Sparsity = float | dict[str, float]  # one fraction, or {glob | conv | linear: fraction}
Bits = int | dict[str, int]  # index bits, one number or per layer
KEEP_RATIOS = [0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01]


class FinetuneConfig(TrainConfig):
    """The input artifact and the fine-tuning that follows a compression step (``epochs: 0`` skips it)."""

    artifact: str = Field(..., description="input model (.pt/.evz) or run folder")
    data: DataConfig | None = Field(None, description="default: the data the artifact was trained on")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="augmentation of the fine-tuning "
                                   "batches")
    epochs: int = Field(3, ge=0, le=100_000, description="fine-tuning epochs (0 = none)")
    lr: float = Field(0.01, gt=0, le=10, description="fine-tuning learning rate")
    distill: KDConfig | None = Field(
        None, description="distil from the unchanged input model while fine-tuning (Hinton et al. 2015): {} for the "
        "defaults, or KD options such as {temperature: 4, alpha: 0.9}")
    resume: bool = Field(False, description="continue an interrupted run in the output folder with its saved "
                         "options (a finished run is reused)")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


class PruneConfig(FinetuneConfig):
    """``edgevision prune``: criterion, target, schedule, and the fine-tuning options of ``train``."""

    cli: ClassVar[Verb] = Verb(
        "prune", "edgevision:prune",
        "unstructured pruning (naive / layer-wise / neuron-wise / global) with one-shot, iterative or AGP schedule",
        examples=("edgevision prune runs/t --sparsity conv1=0.5,*=0.8 --pruning-schedule agp --epochs 4 "
                  "--out runs/t-prune",), args=("artifact",))

    criterion: Literal["naive", "layerwise", "neuronwise", "global"] = Field(
        "layerwise", description="prune w when naive |w| ≤ γ; layerwise |w| ≤ γ·σ(W) + μ(W); neuronwise the same "
        "per output row; global |w| ≤ γ, one γ for all layers (Björgvinsdóttir & Seibold 2016; Han et al. 2015)")
    sparsity: Sparsity | None = Field(None, description="fraction of weights to remove, in [0, 1): one number, or "
                                      "{glob|conv|linear: s} (first match wins; unmatched layers are not pruned)")
    gamma: Sparsity | None = Field(None, description="instead of sparsity: apply the criterion's formula once with "
                                   "this γ (one number or {glob: γ})")
    lr_decay: float = Field(0.1, gt=0, le=1, description="LR decay factor (step and plateau schedules; `gamma` "
                            "is the criterion's γ here)")
    layers: list[str] = Field(default_factory=lambda: ["*"], description="globs of conv/linear layers to prune "
                              "(conv and linear also match by type)")
    pruning_schedule: Literal["oneshot", "iterative", "agp"] = Field(
        "oneshot", description="oneshot: prune before fine-tuning; iterative: `rounds` prune → retrain rounds, "
        "each removing the same fraction of the survivors (Han et al. 2015); agp: s_t = s_f + (s_i − s_f)·(1 − "
        "(t − t₀)/(n·Δt))³ (Zhu & Gupta 2017)")
    rounds: int = Field(3, ge=1, le=100, description="prune → retrain rounds of the iterative schedule, spread "
                        "evenly over the fine-tuning steps")
    agp_start: float = Field(0.0, ge=0, description="epoch (fractional) of AGP's first pruning step t₀")
    agp_end: float | None = Field(None, gt=0, description="epoch where AGP reaches the target, t₀ + n·Δt (default "
                                  "⅔ of epochs); later epochs fine-tune at the final sparsity")
    agp_every: int | None = Field(None, ge=1, description="optimizer steps Δt between AGP pruning events (default: "
                                  "about 30 events from agp_start to agp_end)")
    epochs: int = Field(4, ge=0, le=100_000, description="fine-tuning epochs (0 = prune only; iterative and agp "
                        "need ≥ 1)")
    keep: Literal["best", "last"] = Field(
        "last", description="weights kept: last = the final epoch; best = the best val epoch (oneshot only)")

    @model_validator(mode="after")
    def _check(self) -> PruneConfig:
        if (self.sparsity is None) == (self.gamma is None):
            raise ValueError("give exactly one of sparsity (a target) or gamma (a threshold parameter)")
        vals = self.sparsity.values() if isinstance(self.sparsity, dict) else [self.sparsity]
        if isinstance(self.sparsity, dict) and not self.sparsity:
            raise ValueError("an empty sparsity dict prunes nothing")
        if self.sparsity is not None and not all(0 <= v < 1 for v in vals):
            raise ValueError(f"sparsity values must be in [0, 1), got {self.sparsity}")
        if self.criterion == "global" and isinstance(self.sparsity, dict):
            raise ValueError("criterion 'global' ranks all layers together: give one sparsity, not a dict")
        if self.gamma is not None and self.pruning_schedule != "oneshot":
            raise ValueError("gamma applies the formula once: use pruning_schedule 'oneshot' (or give sparsity)")
        if self.pruning_schedule != "oneshot" and self.epochs == 0:
            raise ValueError(f"pruning_schedule {self.pruning_schedule!r} prunes during training: epochs must be ≥ 1")
        if self.pruning_schedule != "oneshot" and self.keep == "best":
            raise ValueError("keep 'best' could pick a less sparse epoch of a gradual schedule; use keep 'last'")
        if self.agp_end is not None and not self.agp_start < self.agp_end <= self.epochs:
            raise ValueError(f"need agp_start < agp_end ≤ epochs, got {self.agp_start}, {self.agp_end}, {self.epochs}")
        return self


class SensitivityConfig(BaseModel):
    """``edgevision sensitivity``: layers, criteria, keep-ratios, evaluation split, tolerated loss."""

    cli: ClassVar[Verb] = Verb(
        "sensitivity", "edgevision:sensitivity",
        "prune each layer alone at keep-ratios 80 % → 1 % per criterion; table, plot and proposed sparsities",
        examples=("edgevision sensitivity runs/t --layers 'conv*' --tolerance 0.005 --out runs/t-sens",),
        args=("artifact",), aliases=(("--keep", "keep_ratios"),))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model (.pt/.evz) or run folder")
    criteria: list[Literal["naive", "layerwise", "neuronwise"]] = Field(
        default_factory=lambda: ["naive", "layerwise", "neuronwise"], min_length=1,
        description="pruning criteria to compare (see prune --criterion)")
    keep_ratios: list[float] = Field(default_factory=lambda: list(KEEP_RATIOS), min_length=1,
                                     validation_alias=AliasChoices("keep_ratios", "keep"),
                                     description="fractions of each layer's weights kept, one sweep point each")
    layers: list[str] = Field(default_factory=lambda: ["*"], description="globs of conv/linear layers to sweep")
    split: Literal["train", "val", "test"] = Field("val", description="split evaluated (choosing sparsities on "
                                                   "test would leak it)")
    data: DataConfig | None = Field(None, description="default: the data the artifact was trained on")
    limit: int | None = Field(None, ge=1, description="evaluate on at most this many samples (evenly spaced)")
    batch_size: int = Field(256, ge=1, description="evaluation batch size")
    tolerance: float | None = Field(0.01, ge=0, description="tolerated drop of the primary metric, in its units "
                                    "(0.01 = 1 point of top-1), for the proposed sparsities (None: no proposal)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class ClusterConfig(FinetuneConfig):
    """``edgevision cluster``: bits per layer, initialization, sharing granularity, centroid fine-tuning."""

    cli: ClassVar[Verb] = Verb(
        "cluster", "edgevision:cluster",
        "k-means weight sharing per layer (pruned weights stay zero) with centroid fine-tuning",
        examples=("edgevision cluster runs/t-prune --bits conv=8,linear=5 --epochs 2 --out runs/t-cluster",),
        args=("artifact",), aliases=(("--init", "centroid_init"),))

    bits: Bits = Field(default_factory=lambda: {"conv": 8, "linear": 5},
                       description="index bits (k = 2^bits shared values, 1–16): one number or {glob|conv|linear: "
                       "bits} (Han et al. 2016: conv 8, linear 5)")
    centroid_init: Literal["linear", "density", "random"] = Field(
        "linear", validation_alias=AliasChoices("centroid_init", "init"),
        description="k-means initialization: linear = evenly spaced from min to max (Han et al. 2016: best); "
        "density = evenly spaced quantiles; random = k weights drawn at random")
    per_channel: bool = Field(False, description="one codebook per output channel instead of per tensor")
    layers: list[str] = Field(default_factory=lambda: ["*"], description="globs of conv/linear layers to share")
    bias_bits: int | None = Field(None, ge=1, le=16, description="also share the biases of these layers, 2^bias_bits "
                                  "values per tensor (None: biases stay as they are)")
    codebook_dtype: Literal["fp32", "fp16"] = Field(
        "fp32", description="fp16 rounds the shared values to fp16 after fine-tuning (pack then stores 2-byte "
        "codebooks)")
    max_iter: int = Field(300, ge=1, le=10_000, description="most Lloyd iterations of each layer's 1-D k-means "
                          "(stops earlier when the centroids stop moving)")
    epochs: int = Field(2, ge=0, le=100_000, description="centroid fine-tuning epochs (0 = none)")
    lr: float = Field(0.001, gt=0, le=10, description="centroid fine-tuning learning rate")
    keep: Literal["best", "last"] = Field(
        "last", description="weights kept: last = the final epoch; best = the best val epoch (re-tied after "
        "loading)")


class PackConfig(BaseModel):
    """``edgevision pack``: how tensors may be stored."""

    cli: ClassVar[Verb] = Verb(
        "pack", "edgevision:pack",
        "write an .evz: CSR with relative gaps + shared-weight codebooks + Huffman; prints the compression rate",
        examples=("edgevision pack runs/t-cluster --out runs/t-pack",), args=("artifact",))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model (.pt) or run folder")
    huffman: bool = Field(True, description="Huffman-code each stream when that is smaller than fixed-width")
    gap_bits: int | Literal["auto"] = Field("auto", description="bits b per CSR relative column gap (1–16; longer "
                                            "gaps take filler entries) or auto: the smallest size per tensor")
    max_codebook: int = Field(256, ge=1, le=65536, description="a tensor (or channel) with at most this many "
                              "distinct values may be stored as a codebook + indices")
    per_channel: bool | Literal["auto"] = Field(
        "auto", description="one codebook per output channel; auto = when the whole tensor has more than "
        "max_codebook distinct values")
    sparse: Literal["auto", "always", "never"] = Field(
        "auto", description="CSR for tensors with zeros: auto = when smaller; always = every float tensor; never")
    float_dtype: Literal["fp32", "fp16"] = Field("fp32", description="storage of the float32 values not in a "
                                                 "codebook; fp16 halves them and is lossy")
    verify: bool = Field(True, description="decode the file and check every tensor bit for bit before writing it")
    resume: bool = Field(False, description="reuse a finished pack run in --out")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


class UnpackConfig(BaseModel):
    """``edgevision unpack``: decode an ``.evz`` back to a ``model.pt``."""

    cli: ClassVar[Verb] = Verb("unpack", "edgevision:unpack", "decode an .evz back into a model.pt",
                                  examples=("edgevision unpack runs/t-pack --out runs/t-unpacked",),
                                  args=("artifact",))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description=".evz file or pack run folder")


class ShrinkConfig(FinetuneConfig):
    """``edgevision shrink``: structured pruning of an artifact, then fine-tuning."""

    cli: ClassVar[Verb] = Verb(
        "shrink", "edgevision:shrink",
        "structured pruning: remove whole channels (coupled across residual adds, concats, depthwise convs), "
        "rebuild smaller layers, fine-tune",
        examples=("edgevision shrink runs/t --macs 0.5 --importance taylor --epochs 3 --out runs/t-shrink",),
        args=("artifact",))

    artifact: str = Field(..., description="model file or run folder")
    ratio: float | None = Field(None, gt=0, lt=1, description="fraction of channels to remove (give exactly one "
                                "of ratio and macs)")
    macs: float | None = Field(None, gt=0, lt=1, description="fraction of MACs to remove, at least (found by "
                               "bisection; instead of ratio)")
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = Field(
        "l1", description="channel score: l1 Σ|w| (Li et al. 2017); l2 (Σw²)^½; bn_scale Σ|γ| of the BatchNorm "
        "scales (Liu et al. 2017); taylor E[(Σ w·∂L/∂w)²] (Molchanov et al. 2019)")
    scope: Literal["uniform", "global"] = Field(
        "uniform", description="uniform: the same fraction from every channel group; global: rank all channels "
        "together, scores normalized by each group's mean")
    round_to: int | Literal["auto"] = Field("auto", description="kept widths are multiples of this; auto = the "
                                            "CPU's fp32 SIMD width (16 on AVX-512, 8 on AVX2)")
    max_ratio: float = Field(0.9, gt=0, lt=1, description="no group loses more than this fraction")
    ignore: list[str] = Field(default_factory=list, description="glob patterns of layer paths to leave alone")
    taylor_batches: int = Field(8, ge=1, le=1000, description="training batches averaged by the taylor criterion")


class LowRankConfig(FinetuneConfig):
    """``edgevision lowrank``: factorize layers of an artifact, then fine-tune."""

    cli: ClassVar[Verb] = Verb(
        "lowrank", "edgevision:lowrank",
        "low-rank factorization: SVD of linear layers, k×k conv → k×1 + 1×k, or conv → depthwise-separable; "
        "then fine-tuning",
        examples=("edgevision lowrank runs/t --method dwsep --min-saving 0.05 --epochs 2 --out runs/t-lowrank",),
        args=("artifact",))

    artifact: str = Field(..., description="model file or run folder")
    method: Literal["svd", "separable", "dwsep"] = Field(
        "svd", description="svd: linear W ≈ U_r Σ_r V_rᵀ (Denton et al. 2014); separable: k×k conv → k×1 + 1×k (Tai "
        "et al. 2016); dwsep: conv → depthwise k×k + pointwise 1×1")
    layers: list[str] = Field(default_factory=list, description="globs of layer paths (default: all eligible: "
                              "linear layers for svd, ungrouped k×k conv2d otherwise)")
    energy: float = Field(0.9, gt=0, le=1, description="rank r = the smallest keeping this fraction of Σσ² (svd, "
                          "separable)")
    rank: int | None = Field(None, ge=1, description="fixed rank instead of energy (wins over rank_ratio)")
    rank_ratio: float | None = Field(None, gt=0, le=1, description="rank as a fraction of full rank, rounded up "
                                     "(instead of energy)")
    min_saving: float = Field(0.1, ge=0, lt=1, description="replace a layer only if it saves this share of MACs")
