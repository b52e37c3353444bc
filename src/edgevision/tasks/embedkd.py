"""Embedding distillation losses: the student's embedding learns the teacher's, point by point and in relation.

Both take a batch of embeddings ``s`` (B, D_s) and ``t`` (B, D_t); the teacher's is detached.

- :func:`embedding_loss` matches each image's embedding after L2 normalization (the gallery compares normalized
  embeddings by cosine), through a learned projection ``P`` when ``D_s ≠ D_t`` (the caller applies it):

      cos:  L = mean_i (1 − ŝ_i · t̂_i)             ŝ = P(s)/‖P(s)‖, t̂ = t/‖t‖
      mse:  L = mean_i ‖ŝ_i − t̂_i‖²  (= 2 · cos loss for unit vectors; kept for its own gradient scale)

- :func:`relational_loss` is the distance-wise relational KD of Park, Kim, Lu & Cho (2019), "Relational Knowledge
  Distillation" (CVPR): it matches the *structure* of the batch rather than each point, so it needs no projection:

      ψ(x_i, x_j) = ‖x̂_i − x̂_j‖₂ / μ,   μ = mean_{i≠j} ‖x̂_i − x̂_j‖₂    (distances normalized by their mean)
      L_RKD-D = mean_{i≠j} huber(ψ_S(i, j) − ψ_T(i, j))                 (Huber / smooth-L1, δ = 1)

  on L2-normalized embeddings x̂ (the space the gallery matches in).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _check(s: Tensor, t: Tensor, same_dim: bool) -> None:
    if s.ndim != 2 or t.ndim != 2 or len(s) != len(t):
        raise ValueError(f"embeddings must be (B, D) with the same B, got {tuple(s.shape)} and {tuple(t.shape)}")
    if same_dim and s.shape[1] != t.shape[1]:
        raise ValueError(f"student {s.shape[1]}-d and teacher {t.shape[1]}-d embeddings differ: project first")


def embedding_loss(student: Tensor, teacher: Tensor, kind: Literal["cos", "mse"] = "cos") -> Tensor:
    """Per-image match of normalized embeddings (B, D), averaged over the batch: ``1 − cos`` or squared distance."""
    _check(student, teacher, True)
    s, t = F.normalize(student.float(), dim=1), F.normalize(teacher.detach().float(), dim=1)
    if kind == "cos":
        return (1 - (s * t).sum(1)).mean()
    if kind == "mse":
        return (s - t).pow(2).sum(1).mean()
    raise ValueError(f"embedding loss kind must be cos or mse, got {kind!r}")


def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distances (B, B) between the rows of ``x`` (B, D), exactly 0 on the diagonal."""
    sq = x.pow(2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * x @ x.T
    eye = torch.eye(len(x), dtype=torch.bool, device=x.device)
    return d2.clamp(min=1e-12).sqrt().masked_fill(eye, 0)  # the clamp keeps √ off 0: coincident points, no NaN


def relational_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Park et al.'s (2019) distance-wise RKD on L2-normalized embeddings (B, D_s), (B, D_t); 0 for B < 2."""
    _check(student, teacher, False)
    b = len(student)
    if b < 2:
        return student.sum() * 0.0
    off = ~torch.eye(b, dtype=torch.bool, device=student.device)
    with torch.no_grad():
        dt = pairwise_distances(F.normalize(teacher.detach().float(), dim=1))
        dt = dt / dt[off].mean().clamp(min=1e-12)
    ds = pairwise_distances(F.normalize(student.float(), dim=1))
    ds = ds / ds[off].mean().clamp(min=1e-12)
    return F.smooth_l1_loss(ds[off], dt[off], beta=1.0)
