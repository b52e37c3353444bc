"""Detection metrics: Pascal VOC AP@0.5 (all-point and 11-point) and COCO mAP@[.5:.95], per class and mean.

Inputs are per-image dicts: detections ``{"boxes" (D, 4) xyxy, "scores" (D,), "labels" (D,)}`` and ground truth
``{"boxes" (G, 4), "labels" (G,)}`` with optional ``"ignore"`` (G,) bools (VOC *difficult*, COCO *iscrowd*).

**VOC** (Everingham et al. 2010, the devkit's ``voc_eval``): detections of a class are ranked by score; one is a
true positive when its highest-IoU ground truth has IoU > 0.5, is not *difficult* and was not claimed by a
higher-scored detection. AP (all-point) = Σ (r_{i+1} − r_i)·p̂(r_{i+1}) with p̂ the monotone precision envelope;
AP (11-point, VOC2007) = (1/11) Σ_{t∈{0, 0.1, …, 1}} max_{r ≥ t} p(r).

**COCO** (Lin et al. 2014, ``pycocotools.COCOeval`` re-implemented): per image and class the top 100 detections
are matched greedily, at each IoU threshold t ∈ {0.50, 0.55, …, 0.95}, to the best still-unmatched ground truth
with IoU ≥ t (crowd boxes may match many detections, with IoU = |d ∩ g| / |d|, and matches to them are
ignored); precision is sampled at 101 recall points on the envelope; mAP = mean over thresholds and over the
classes that have ground truth. A test checks agreement with pycocotools to 1e-3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.boxes import area, box_iou

COCO_IOUS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def _class_view(items: list[dict[str, Any]], c: int, with_scores: bool) -> list[dict[str, np.ndarray]]:
    out = []
    for it in items:
        lab = np.asarray(it.get("labels", []), np.int64).reshape(-1)
        sel = lab == c
        v = {"boxes": np.asarray(it.get("boxes", []), np.float64).reshape(-1, 4)[sel]}
        if with_scores:
            v["scores"] = np.asarray(it.get("scores", []), np.float64).reshape(-1)[sel]
        else:
            ign = it.get("ignore")
            v["ignore"] = np.zeros(int(sel.sum()), bool) if ign is None else np.asarray(ign, bool).reshape(-1)[sel]
        out.append(v)
    return out


# ----------------------------------------------------------------------------------------------------- VOC
def voc_ap(rec: np.ndarray, prec: np.ndarray, eleven_point: bool = False) -> float:
    """Area under the precision–recall curve, all-point (VOC2010+) or 11-point (VOC2007)."""
    if eleven_point:
        return float(np.mean([prec[rec >= t].max() if (rec >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]))
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _voc_image(det: dict[str, np.ndarray], gt: dict[str, np.ndarray], thr: float) -> tuple[np.ndarray, np.ndarray]:
    """(scores, tp) of one image's detections of one class under the devkit's rule, vectorized.

    A detection's best ground truth is fixed (argmax IoU), so within an image the TP among detections that
    share a best ground truth is the highest-scored one: the first occurrence in score order.
    """
    order = np.argsort(-det["scores"], kind="stable")
    scores = det["scores"][order]
    tp = np.zeros(len(order), bool)
    ignored = np.zeros(len(order), bool)
    if len(gt["boxes"]) and len(order):
        iou = box_iou(det["boxes"][order], gt["boxes"])
        j = iou.argmax(1)
        hit = iou[np.arange(len(order)), j] > thr
        ignored = hit & gt["ignore"][j]
        cand = np.flatnonzero(hit & ~ignored)
        _, first = np.unique(j[cand], return_index=True)
        tp[cand[first]] = True
    return scores[~ignored], tp[~ignored]


def voc_class_ap(dets: list[dict[str, np.ndarray]], gts: list[dict[str, np.ndarray]],
                 iou_threshold: float = 0.5) -> dict[str, float]:
    """VOC AP (all-point and 11-point) of one class from per-image class views."""
    npos = int(sum((~g["ignore"]).sum() for g in gts))
    parts = [_voc_image(d, g, iou_threshold) for d, g in zip(dets, gts)]
    scores = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    tp = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, bool)
    order = np.argsort(-scores, kind="stable")
    tp = tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    if npos == 0:
        return {"ap50": float("nan"), "ap50_11pt": float("nan"), "n_gt": 0, "n_det": len(tp)}
    rec = ctp / npos
    prec = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    return {"ap50": voc_ap(rec, prec), "ap50_11pt": voc_ap(rec, prec, True), "n_gt": npos, "n_det": len(tp)}


# ----------------------------------------------------------------------------------------------------- COCO
def _crowd_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU (D, G); for crowd ground truth the union is the detection's own area (pycocotools' rule)."""
    iou = box_iou(d, g)
    if crowd.any():
        lt = np.maximum(d[:, None, :2], g[None, :, :2])
        rb = np.minimum(d[:, None, 2:], g[None, :, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
        ad = area(d)[:, None]
        iou = np.where(crowd[None, :], np.where(ad > 0, inter / np.where(ad > 0, ad, 1), 0), iou)
    return iou


def _coco_image(det: dict[str, np.ndarray], gt: dict[str, np.ndarray], max_det: int,
                area_rng: tuple[float, float]) -> dict[str, np.ndarray] | None:
    """COCOeval.evaluateImg for one (image, class): matches (T, D), det ignores (T, D), scores, gt ignores."""
    g, crowd = gt["boxes"], gt["ignore"]
    ga = area(g)
    g_ig = crowd | (ga < area_rng[0]) | (ga > area_rng[1])
    if len(g) == 0 and len(det["boxes"]) == 0:
        return None
    gi = np.argsort(g_ig, kind="mergesort")  # non-ignored ground truth first
    g, crowd, g_ig = g[gi], crowd[gi], g_ig[gi]
    di = np.argsort(-det["scores"], kind="mergesort")[:max_det]
    d, s = det["boxes"][di], det["scores"][di]
    t_n, d_n = len(COCO_IOUS), len(d)
    matched = np.zeros((t_n, d_n), bool)
    d_ig = np.zeros((t_n, d_n), bool)
    if len(g) and d_n:
        iou = _crowd_iou(d, g, crowd)
        g_taken = np.zeros((t_n, len(g)), bool)
        thr = np.minimum(COCO_IOUS, 1 - 1e-10)[:, None]
        for k in range(d_n):  # greedy and sequential by nature; vectorized over thresholds and ground truth
            ok = (~g_taken | crowd[None, :]) & (iou[k][None, :] >= thr)
            for pool in (~g_ig, g_ig):  # a non-ignored match always wins over an ignored one
                cand = np.where(ok & pool[None, :] & ~matched[:, k:k + 1], iou[k][None, :], -1.0)
                # pycocotools keeps the *last* gt among equal IoUs: take argmax on the reversed order
                j = len(g) - 1 - cand[:, ::-1].argmax(1)
                found = (cand.max(1) >= 0) & ~matched[:, k]
                matched[found, k] = True
                d_ig[found, k] = g_ig[j[found]]
                g_taken[found, j[found]] = True
    da = area(d)
    outside = (da < area_rng[0]) | (da > area_rng[1])
    d_ig |= ~matched & outside[None, :]
    return {"scores": s, "matched": matched, "d_ig": d_ig, "npig": int((~g_ig).sum())}


def coco_class_pr(dets: list[dict[str, np.ndarray]], gts: list[dict[str, np.ndarray]], max_det: int = 100,
                  area_rng: tuple[float, float] = (0, 1e10)) -> tuple[np.ndarray, np.ndarray] | None:
    """COCOeval.accumulate for one class: precision (T, 101) and recall (T,), or None without ground truth."""
    ev = [e for d, g in zip(dets, gts) if (e := _coco_image(d, g, max_det, area_rng)) is not None]
    npig = sum(e["npig"] for e in ev)
    if npig == 0:
        return None
    scores = np.concatenate([e["scores"] for e in ev])
    order = np.argsort(-scores, kind="mergesort")
    m = np.concatenate([e["matched"] for e in ev], 1)[:, order]
    ig = np.concatenate([e["d_ig"] for e in ev], 1)[:, order]
    tp = np.cumsum(m & ~ig, 1).astype(np.float64)
    fp = np.cumsum(~m & ~ig, 1).astype(np.float64)
    nd = tp.shape[1]
    precision = np.zeros((len(COCO_IOUS), len(RECALL_POINTS)))
    recall = np.zeros(len(COCO_IOUS))
    for t in range(len(COCO_IOUS)):  # ten thresholds
        if nd == 0:
            continue
        rc = tp[t] / npig
        pr = np.maximum.accumulate((tp[t] / (tp[t] + fp[t] + np.spacing(1)))[::-1])[::-1]
        recall[t] = rc[-1]
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        precision[t] = np.where(idx < nd, pr[np.minimum(idx, nd - 1)], 0.0)
    return precision, recall


# ----------------------------------------------------------------------------------------------------- both
def evaluate_detections(dets: list[dict[str, Any]], gts: list[dict[str, Any]],
                        class_names: list[str]) -> dict[str, Any]:
    """VOC and COCO metrics, per class and mean over classes with ground truth.

    Returns ``ap50`` (VOC all-point AP@0.5, the headline), ``ap50_11pt``, ``map`` (COCO AP@[.5:.95]),
    ``map50``, ``map75``, ``ar100`` and ``per_class`` (name → its numbers).
    """
    if len(dets) != len(gts):
        raise ValueError(f"{len(dets)} detection lists for {len(gts)} images")
    per: dict[str, dict[str, float]] = {}
    prec, rec = [], []
    for c, name in enumerate(class_names):
        d, g = _class_view(dets, c, True), _class_view(gts, c, False)
        row = voc_class_ap(d, g)
        coco = coco_class_pr(d, g)
        if coco is not None:
            prec.append(coco[0])
            rec.append(coco[1])
            row.update(map=float(coco[0].mean()), map50=float(coco[0][0].mean()))
        if row["n_gt"] or coco is not None:
            per[name] = row
    out: dict[str, Any] = {"n_images": len(gts)}
    voc_rows = [r for r in per.values() if r["n_gt"]]
    out["ap50"] = float(np.mean([r["ap50"] for r in voc_rows])) if voc_rows else float("nan")
    out["ap50_11pt"] = float(np.mean([r["ap50_11pt"] for r in voc_rows])) if voc_rows else float("nan")
    if prec:
        p = np.stack(prec)  # (classes, T, 101)
        out.update(map=float(p.mean()), map50=float(p[:, 0].mean()), map75=float(p[:, 5].mean()),
                   ar100=float(np.mean(rec)))
    else:
        out.update(map=float("nan"), map50=float("nan"), map75=float("nan"), ar100=float("nan"))
    out["per_class"] = per
    return out


def format_ap_table(metrics: dict[str, Any], max_rows: int = 100) -> str:
    """The AP table printed by ``edgevision eval``: one row per class, then the means."""
    lines = [f"{'class':<20}{'n_gt':>7}{'AP50':>9}{'AP50-11pt':>11}{'AP[.5:.95]':>12}"]
    for name, r in list(metrics.get("per_class", {}).items())[:max_rows]:
        lines.append(f"{name[:19]:<20}{r['n_gt']:>7}{_f(r.get('ap50')):>9}{_f(r.get('ap50_11pt')):>11}"
                     f"{_f(r.get('map')):>12}")
    n_gt = sum(r["n_gt"] for r in metrics.get("per_class", {}).values())
    lines.append(f"{'mean':<20}{n_gt:>7}{_f(metrics.get('ap50')):>9}{_f(metrics.get('ap50_11pt')):>11}"
                 f"{_f(metrics.get('map')):>12}")
    lines.append(f"COCO: AP[.5:.95] {_f(metrics.get('map'))}  AP50 {_f(metrics.get('map50'))}  "
                 f"AP75 {_f(metrics.get('map75'))}  AR100 {_f(metrics.get('ar100'))}")
    return "\n".join(lines)


def _f(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"
