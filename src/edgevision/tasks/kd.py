"""Knowledge-distillation losses for any output layout with the class dimension at 1.

Every function takes logits shaped ``(N, C, *rest)``: ``(N, C)`` for classification, ``(N, C, H, W)`` for
segmentation (per pixel), ``(N, C, A)`` for detection (per anchor). Losses are summed over classes and averaged
over all other positions (optionally weighted, e.g. to skip ignored pixels or weight anchors by the teacher's
objectness), so the detection and segmentation tasks reuse them as they are. ``weight`` may be a bool mask.
Detection adds two per-anchor pieces: :func:`soft_bce` (the teacher's confidence as a soft binary target) and
:func:`soft_regression` (the teacher's box deltas as regression targets; Chen et al. 2017).

Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network":

    p = softmax(t / T)                        teacher soft targets
    log q = log_softmax(s / T)                student, in log space (Asplund (2016) took log(q) of a
                                              softmax that had underflowed to 0 → NaN in every run)
    soft = T² · KL(p ‖ q) = T² · Σ_c p_c (log p_c − log q_c)
    loss = (1 − α) · CE(y, s) + α · soft

The gradient of ``KL(p ‖ q)`` w.r.t. ``s`` is ``(q − p) / T``, which shrinks as 1/T² in the high-T limit;
the T² factor keeps the soft term's share of the gradient constant when T changes. Everything is computed in
float32 from ``log_softmax`` (never ``log(softmax)``), so ±1e4 logits under bf16 autocast stay finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def zero_mean(logits: Tensor) -> Tensor:
    """Subtract the mean over classes (dim 1) at every position (Asplund 2016).

    Softmax is shift-invariant, so this leaves ``soft_kl`` unchanged; it matters for :func:`logit_mse`, the
    high-temperature limit of distillation, whose derivation assumes zero-mean logits (Hinton 2015, §2.1).
    """
    return logits - logits.mean(1, keepdim=True)


def _reduce(per_position: Tensor, weight: Tensor | None) -> Tensor:
    """Mean of a (N, *rest) loss map over positions, or a weighted mean when ``weight`` (N, *rest) is given."""
    if weight is None:
        return per_position.mean()
    if weight.shape != per_position.shape:
        raise ValueError(f"weight {tuple(weight.shape)} does not match the positions {tuple(per_position.shape)}")
    w = weight.detach().to(per_position.dtype)  # no position is empty of weight: all-zero weights give 0, not NaN
    return (per_position * w).sum() / w.sum().clamp(min=1e-12)


def _check(student: Tensor, teacher: Tensor) -> None:
    if student.shape != teacher.shape:
        raise ValueError(f"student logits {tuple(student.shape)} and teacher logits {tuple(teacher.shape)} differ")
    if student.ndim < 2:
        raise ValueError(f"logits need a class dimension at 1, got shape {tuple(student.shape)}")


def soft_targets(teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``softmax(t / T)`` over dim 1 in float32 (teacher probabilities at temperature T)."""
    return F.softmax(teacher_logits.detach().float() / temperature, dim=1)


def probs_to_logits(probs: Tensor, eps: float = 1e-6) -> Tensor:
    """Logits whose softmax is ``probs`` (``log p``, clamped): lets probability teachers (a detector's
    [1 − p, p]) use the same temperature softening, ``softmax(log p / T) ∝ p^(1/T)``."""
    return probs.float().clamp(min=eps).log()


def soft_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0, *,
            weight: Tensor | None = None, scale_t2: bool = True) -> Tensor:
    """``T² · KL(softmax(t/T) ‖ softmax(s/T))`` summed over classes (dim 1), averaged over other positions.

    Args:
        student_logits: (N, C, ...) logits with gradients.
        teacher_logits: (N, C, ...) logits (detached here).
        temperature: T > 0.
        weight: optional (N, ...) position weights (0 = ignore), e.g. valid pixels or matched anchors.
        scale_t2: multiply by T² (Hinton 2015); turn off only to reproduce an unscaled reference.
    """
    _check(student_logits, teacher_logits)
    t = teacher_logits.detach().float() / temperature
    log_p = F.log_softmax(t, dim=1)
    log_q = F.log_softmax(student_logits.float() / temperature, dim=1)
    # Σ p (log p − log q); exp(log_p) underflows to exactly 0 for hopeless classes and 0·finite = 0, never NaN.
    kl = (log_p.exp() * (log_p - log_q)).sum(1)  # (N, ...)
    loss = _reduce(kl, weight)
    return loss * temperature**2 if scale_t2 else loss


def soft_bce(student_logit: Tensor, teacher_logit: Tensor, *, weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy to the teacher's probability ``p_T = σ(t)`` as a soft target, per position:

        BCE(p_T, σ(s)) = −p_T log σ(s) − (1 − p_T) log(1 − σ(s)) = softplus(s) − p_T · s

    computed from logits (``binary_cross_entropy_with_logits``), so it is finite for any logit in fp32 and bf16.
    Its minimum over ``s`` is at ``s = t`` (where it equals the teacher's entropy, not 0). Shapes (N, ...).
    """
    if student_logit.shape != teacher_logit.shape:
        raise ValueError(f"student {tuple(student_logit.shape)} and teacher {tuple(teacher_logit.shape)} differ")
    p_t = torch.sigmoid(teacher_logit.detach().float())
    bce = F.binary_cross_entropy_with_logits(student_logit.float(), p_t, reduction="none")
    return _reduce(bce, weight)


def soft_regression(student: Tensor, teacher: Tensor, *, weight: Tensor | None = None, beta: float = 0.1) -> Tensor:
    """Smooth-L1 from the student's regression outputs to the teacher's (N, ..., D), summed over the last dim D
    (e.g. the 4 box deltas) and averaged over positions (weighted by ``weight`` (N, ...)):

        ℓ(d) = ½ d² / β if |d| < β else |d| − ½ β,     d = δ_S − δ_T

    Chen et al. 2017 bound the teacher's regression loss instead; matching the teacher directly is the simpler
    "teacher as box target" variant, weighted by the teacher's objectness so background anchors do not count.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ")
    per = F.smooth_l1_loss(student.float(), teacher.detach().float(), beta=beta, reduction="none").sum(-1)
    return _reduce(per, weight)


def logit_mse(student_logits: Tensor, teacher_logits: Tensor, *, weight: Tensor | None = None) -> Tensor:
    """Logit matching ``½ · Σ_c (ŝ_c − t̂_c)² / C`` on zero-mean logits (Caruana/Ba; Hinton's T → ∞ limit).

    In that limit ``T² · ∂KL/∂s_c → (ŝ_c − t̂_c) / C``, which is exactly this loss's gradient.
    """
    _check(student_logits, teacher_logits)
    d = zero_mean(student_logits.float()) - zero_mean(teacher_logits.detach().float())
    return _reduce(0.5 * d.pow(2).mean(1), weight)


def hard_ce(student_logits: Tensor, labels: Tensor, *, weight: Tensor | None = None,
            ignore_index: int = -100) -> Tensor:
    """Cross-entropy with integer labels (N, ...) for logits (N, C, ...), averaged over labelled positions."""
    ce = F.cross_entropy(student_logits.float(), labels, reduction="none", ignore_index=ignore_index)
    valid = (labels != ignore_index).float()
    w = valid if weight is None else valid * weight.float()
    return _reduce(ce, w)


def hinton_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor | None, temperature: float = 4.0,
                alpha: float = 0.9, *, weight: Tensor | None = None, ignore_index: int = -100) -> Tensor:
    """``(1 − α) · CE(y, s) + α · T² · KL(softmax(t/T) ‖ softmax(s/T))`` (Hinton 2015; Demborg's (2018) CE + λ·T²·KL).

    ``labels=None`` (an unlabelled transfer set) gives the soft term alone, i.e. α = 1.
    """
    soft = soft_kl(student_logits, teacher_logits, temperature, weight=weight)
    if labels is None or alpha >= 1:
        return soft
    hard = hard_ce(student_logits, labels, weight=weight, ignore_index=ignore_index)
    return (1 - alpha) * hard + alpha * soft


def two_class_logits(logits: Tensor) -> Tensor:
    """A single binary logit (N, 1, ...) or (N,) becomes the equivalent 2-class logits ``[0, z]`` (N, 2, ...)."""
    if logits.ndim == 1:
        logits = logits[:, None]
    if logits.shape[1] == 2:
        return logits
    if logits.shape[1] != 1:
        raise ValueError(f"binary distillation needs 1 or 2 outputs per position, got {logits.shape[1]}")
    return torch.cat([torch.zeros_like(logits), logits], 1)


def kd_bce_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, temperature: float = 2.0,
                alpha: float = 1.0, beta: float = 1.0, *, weight: Tensor | None = None,
                scale_t2: bool = True) -> Tensor:
    """Stanček (2024) (Stanček 2024): ``α · KL(P_T ‖ P_S) + β · BCE(y, P_S)`` for binary outputs.

    ``P_S = σ(z)`` for one logit, or ``softmax(s)[1]`` for two; the KL is taken at temperature T (Stanček (2024):
    T = 2, α = β = 1) and scaled by T² unless ``scale_t2=False`` (the thesis does not say it scaled).
    ``BCE(y, P_S) = −y log P_S − (1 − y) log(1 − P_S)`` is computed from logits (``log_softmax``), so it is finite
    at any logit. Labels are 0/1 per position, (N, ...).
    """
    s, t = two_class_logits(student_logits), two_class_logits(teacher_logits)
    kl = soft_kl(s, t, temperature, weight=weight, scale_t2=scale_t2)
    return alpha * kl + beta * binary_ce(s, labels, weight=weight)


def binary_ce(student_logits: Tensor, labels: Tensor, *, weight: Tensor | None = None) -> Tensor:
    """``BCE(y, P_S)`` for one logit (N, 1, ...) or two (N, 2, ...) per position, via ``log_softmax``."""
    s = two_class_logits(student_logits)
    bce = -F.log_softmax(s.float(), 1).gather(1, labels.long().unsqueeze(1)).squeeze(1)
    return _reduce(bce, weight)
