"""Object detection: the task owns the targets, the loss and post-processing, for two kinds of head.

``head`` is recorded in the task spec, set from the model's registry metadata
(:meth:`DetectionTask.adapt_model_kwargs`):

- ``anchors`` — SqueezeDet (OpenCV GSoC 2017), raw ConvDet maps (B, K(5 + C), Hf, Wf);
- ``points`` — the anchor-free AFDet (:mod:`edgevision.models.afdet`), (B, N, 4(R + 1) + C): task-aligned
  assignment, BCE + CIoU + DFL (:mod:`.afdet_loss`), decode points + stride·E[bins] → σ(class) scores
  (:mod:`edgevision.ops.points`), then the same top-N / NMS.

For the anchor head:

- anchors: k-means over the training boxes at the input size (d = 1 − IoU), or given explicitly;
- loss: :func:`~edgevision.tasks.detection_loss.squeezedet_loss` (λ_bbox = 5, λ⁺ = 75, λ⁻ = 100, all options);
- decode: σ(conf)·softmax(class) → top-N (64) → per-class NMS → score threshold (:mod:`edgevision.ops.postprocess`);
- metrics: VOC AP@0.5 (all-point and 11-point) and COCO mAP@[.5:.95], per class and mean.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..config import validate
from ..data.detection import dataset_boxes as _dataset_boxes
from ..errors import ConfigError
from ..metrics.detection import evaluate_detections, format_ap_table
from ..ops.anchors import grid_anchors, kmeans_anchors
from ..ops.boxes import box_iou
from ..ops.letterbox import LETTERBOX_PAD, fit, fit_image
from ..ops.points import decode_points, make_points
from ..ops.postprocess import PostprocessConfig, decode_raw, postprocess
from ..ops.torch_boxes import split_raw
from .afdet_distill import points_distill_view
from .afdet_loss import AFDetLossConfig, afdet_loss, split_output
from .base import TASKS, DistillView, Meter, Task
from .detection_distill import DetectionDistillWeights, detection_distill_view
from .detection_loss import LossWeights, squeezedet_loss


class DetectionOptions(BaseModel):
    """``task_options`` of a detection training run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    anchors: int | list[tuple[float, float]] = Field(9, description="K for k-means, or explicit (w, h) in pixels")
    lambda_bbox: float = Field(5.0, ge=0)
    lambda_conf_pos: float = Field(75.0, ge=0)
    lambda_conf_neg: float = Field(100.0, ge=0)
    lambda_class: float = Field(1.0, ge=0)
    match_iou: float | None = Field(None, gt=0, le=1, description="also make anchors with IoU ≥ this responsible")
    top_n: int = Field(64, ge=1)
    nms_iou: float = Field(0.45, gt=0, le=1)
    score_threshold: float = Field(0.3, ge=0, le=1, description="for predict and drawing")
    eval_score_threshold: float = Field(0.01, ge=0, le=1, description="for AP (keep low: AP needs the tail)")
    eval_top_n: int = Field(300, ge=1, description="candidates kept before NMS when computing AP (YOLO's 300)")
    seed: int = 0
    distill_conf: float = Field(1.0, ge=0, description="distillation: weight of the teacher-confidence BCE")
    distill_box: float = Field(1.0, ge=0, description="distillation: weight of the teacher-box smooth-L1")
    distill_box_beta: float = Field(0.1, gt=0, description="distillation: smooth-L1 β of the box targets")
    head: Literal["anchors", "points"] = Field("anchors", description="set from the model: anchor or point head")
    reg_max: int = Field(8, ge=1, le=32, description="points head: DFL bins 0…reg_max per side (from the model)")
    strides: list[Annotated[int, Field(ge=1)]] = Field([8, 16, 32], min_length=1,
                                                      description="points head: the output strides (the model's)")
    assign_topk: int = Field(10, ge=1, description="points head: task-aligned top-k positives per box (TOOD)")
    assign_alpha: float = Field(1.0, ge=0, description="points head: alignment exponent of the class score")
    assign_beta: float = Field(6.0, ge=0, description="points head: alignment exponent of the IoU")
    lambda_ciou: float = Field(7.5, ge=0, description="points head: weight of the CIoU box loss")
    lambda_dfl: float = Field(1.5, ge=0, description="points head: weight of the distribution focal loss")
    lambda_bce: float = Field(0.5, ge=0, description="points head: weight of the class BCE")


def dataset_boxes(ds: Any) -> list[np.ndarray]:
    """Ground-truth boxes (N_i, 4) of every sample of a detection dataset, without decoding images."""
    return _dataset_boxes(ds)


class DetectionMeter(Meter):
    """Collects decoded detections and ground truth; computes AP tables and the mean loss parts."""

    def __init__(self, task: DetectionTask) -> None:
        self.task = task
        self.dets: list[dict[str, np.ndarray]] = []
        self.gts: list[dict[str, np.ndarray]] = []
        self.sums: dict[str, float] = {}
        self.n = 0

    def update(self, out: dict[str, Any], batch: dict[str, Any]) -> None:
        raw = out["output"].detach().float().numpy()
        boxes, scores = self.task.decode_numpy(raw, tuple(batch["image"].shape[-2:]))
        self.dets += postprocess(boxes, scores, self.task.eval_post())
        self.gts += [{"boxes": b.numpy(), "labels": lab.numpy()} for b, lab in zip(batch["boxes"], batch["labels"])]
        n = len(raw)
        for k in (k for k in out if k.startswith("loss")):
            self.sums[k] = self.sums.get(k, 0.0) + float(out[k]) * n
        self.n += n

    def compute(self) -> dict[str, Any]:
        if not self.n:
            return {"loss": float("nan"), "n": 0}
        m = evaluate_detections(self.dets, self.gts, self.task.class_names)
        return {**{k: v / self.n for k, v in self.sums.items()}, **m, "n": self.n}


@TASKS.register("detection", description="boxes per anchor (SqueezeDet) or per point (AFDet): AP50 and COCO AP")
class DetectionTask(Task):
    """Detection. ``head="anchors"``: raw ConvDet maps (B, K(5 + C), Hf, Wf), ``anchors`` (w, h) pixels;
    ``head="points"``: (B, N, 4(reg_max + 1) + C) over the points of ``strides`` (the anchors are unused)."""

    name = "detection"
    primary = "ap50"
    mode = "max"
    spatial_output = True

    def __init__(self, class_names: list[str], anchors: list[list[float]], input_size: list[int] | tuple[int, int],
                 **options: Any) -> None:
        opts: DetectionOptions = validate(DetectionOptions, {**options, "anchors": len(anchors)}, "task_options")
        super().__init__(class_names=list(class_names), anchors=[[float(a), float(b)] for a, b in anchors],
                         input_size=[int(v) for v in input_size], **options)
        self.class_names, self.opts = list(class_names), opts
        self.anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.weights = LossWeights(opts.lambda_bbox, opts.lambda_conf_pos, opts.lambda_conf_neg, opts.lambda_class,
                                   opts.match_iou)
        self._grid_cache: dict[tuple[int, ...], Any] = {}
        self.afdet = afdet_config(opts)

    @property
    def head(self) -> str:
        return self.opts.head

    @classmethod
    def for_data(cls, splits: Any, **options: Any) -> DetectionTask:
        """k-means anchors from the training boxes (at the input size) unless ``anchors`` lists them."""
        opts: DetectionOptions = validate(DetectionOptions, options, "task_options")
        anchors = opts.anchors
        if isinstance(anchors, int):
            wh = np.concatenate([b[:, 2:] - b[:, :2] for b in dataset_boxes(splits.train)] or [np.zeros((0, 2))])
            anchors, _ = kmeans_anchors(wh, anchors, seed=opts.seed)
        rest = {k: v for k, v in options.items() if k != "anchors"}
        return cls(splits.class_names, np.asarray(anchors).tolist(), list(splits.input_size), **rest)

    @property
    def num_anchors(self) -> int:
        return len(self.anchors)

    def adapt_model_kwargs(self, kwargs: dict[str, Any], model_meta: dict[str, Any]) -> dict[str, Any]:
        if model_meta.get("task") != "detection":
            raise ConfigError("task detection needs a detection model (squeezedet*, afdet*); see `edgevision models`")
        if model_meta.get("head") != "points":
            return {**kwargs, "num_anchors": self.num_anchors}
        own = model_meta.get("strides")
        if own is not None and list(own) != list(self.afdet_strides()):
            raise ConfigError(f"task_options.strides {self.afdet_strides()}: this model's outputs are at strides "
                              f"{list(own)}; drop the option (it is set from the model)")
        side = max(self.afdet_strides())
        if self.input_size[0] % side or self.input_size[1] % side:
            raise ConfigError(f"data.input_size {self.input_size[0]}x{self.input_size[1]}: an anchor-free detector "
                              f"needs sides that are multiples of {side}")
        fixed = model_meta.get("reg_max")  # a head whose bins are fixed by its architecture (YOLO: 15)
        if fixed is not None and "reg_max" in self.kwargs and int(self.kwargs["reg_max"]) != int(fixed):
            raise ConfigError(f"task_options.reg_max {self.kwargs['reg_max']}: this model's head has reg_max {fixed}; "
                              f"drop the option (it is set from the model)")
        reg_max = int(kwargs.get("reg_max", fixed if fixed is not None else self.opts.reg_max))
        self._set_options(head="points", reg_max=reg_max)
        return {**kwargs, "reg_max": reg_max}

    def _set_options(self, **changes: Any) -> None:
        """Record head options learned from the model, so the saved task spec rebuilds the same task."""
        self.kwargs.update(changes)
        self.opts = self.opts.model_copy(update=changes)
        self.afdet = afdet_config(self.opts)

    def afdet_strides(self) -> list[int]:
        return list(self.opts.strides)

    def post(self, score_threshold: float | None = None) -> PostprocessConfig:
        """Post-processing for predictions: the doc's top-N (64), NMS, and the display threshold."""
        thr = self.opts.score_threshold if score_threshold is None else score_threshold
        return PostprocessConfig(self.opts.top_n, self.opts.nms_iou, thr)

    def eval_post(self) -> PostprocessConfig:
        """Post-processing for AP: the same NMS, but more candidates and a low threshold, because AP integrates
        precision over all recall levels (a detector capped at 64 candidates cannot reach its own recall)."""
        return PostprocessConfig(self.opts.eval_top_n, self.opts.nms_iou, self.opts.eval_score_threshold)

    def grid(self, hf: int, wf: int, input_hw: tuple[int, int]) -> torch.Tensor:
        """Anchors (Hf·Wf·K, 4) as (cx, cy, w, h) for one output grid and input size (cached)."""
        key = (hf, wf, *input_hw)
        if key not in self._grid_cache:
            self._grid_cache[key] = torch.from_numpy(grid_anchors(hf, wf, input_hw, self.anchors))
        return self._grid_cache[key]

    def points(self, input_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Points (N, 2) as (x, y) pixels and their strides (N,) for an input size (cached)."""
        key = ("points", *input_hw)
        if key not in self._grid_cache:
            pts, st = make_points(input_hw, self.opts.strides)
            self._grid_cache[key] = (torch.from_numpy(pts), torch.from_numpy(st))
        return self._grid_cache[key]

    def decode_numpy(self, raw: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs → boxes (B, A, 4) xyxy in input pixels and scores (B, A, C), for either head."""
        if self.head == "points":
            return decode_points(raw, input_hw, self.opts.strides, self.opts.reg_max)
        return decode_raw(raw, self.anchors, input_hw)

    def loss_parts(self, output: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if self.head == "points":
            pts, st = self.points(tuple(batch["image"].shape[-2:]))
            return afdet_loss(output, pts, st, batch["boxes"], batch["labels"], self.afdet)
        anchors = self.grid(output.shape[2], output.shape[3], tuple(batch["image"].shape[-2:]))
        return squeezedet_loss(output, anchors, batch["boxes"], batch["labels"], self.weights)

    def loss(self, output: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        return self.loss_parts(output, batch)["loss"]

    def distill_view(self, student_out: torch.Tensor, teacher_out: torch.Tensor, batch: dict[str, Any]
                     ) -> DistillView:
        """Per-anchor distillation (:mod:`.detection_distill`): soft class distribution weighted by the teacher's
        objectness, plus its confidence (BCE) and boxes (smooth-L1) as targets. Needs the teacher's grid/anchors.
        Points head (:mod:`.afdet_distill`): box-bin distributions weighted by the teacher's quality, plus soft
        class scores; needs an AFDet teacher at the same input size."""
        o = self.opts
        if self.head == "points":
            return points_distill_view(student_out, teacher_out, self.opts.reg_max, o.distill_conf)
        w = DetectionDistillWeights(conf=o.distill_conf, box=o.distill_box, box_beta=o.distill_box_beta)
        return detection_distill_view(student_out, teacher_out, self.num_anchors, w)

    def step(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        output = self.forward(model, batch)
        return {**self.loss_parts(output, batch), "output": output}

    def meter(self) -> DetectionMeter:
        return DetectionMeter(self)

    def decode(self, output: torch.Tensor | np.ndarray, image_sizes: list[tuple[int, int]] | None = None,
               score_threshold: float | None = None, resize: str = "stretch") -> list[dict[str, Any]]:
        """Detections per image, in the pixels of the original image when ``image_sizes`` (H, W) are given
        (``resize``: how those images became the input, stretch or letterbox, :mod:`edgevision.ops.letterbox`)."""
        raw = output.detach().float().numpy() if isinstance(output, torch.Tensor) else np.asarray(output, np.float32)
        boxes, scores = self.decode_numpy(raw, self.input_size)
        dets = postprocess(boxes, scores, self.post(score_threshold))
        for d, hw in zip(dets, image_sizes or []):
            d["boxes"] = fit(hw, self.input_size, resize).to_image(d["boxes"])
        return [{"detections": [{"box": [round(float(v), 2) for v in b], "label": self.class_names[int(c)],
                                 "class_id": int(c), "score": round(float(s), 5)}
                                for b, s, c in zip(d["boxes"], d["scores"], d["labels"])],
                 "count": len(d["scores"])} for d in dets]

    def sample_error(self, output: torch.Tensor, batch: dict[str, Any]) -> np.ndarray:
        """(false positives + misses) / (detections + ground truth) at the display threshold, matching each
        ground-truth box greedily to the best same-class detection with IoU ≥ 0.5 (0 = every object found, nothing
        else reported)."""
        raw = output.detach().float().numpy()
        boxes, scores = self.decode_numpy(raw, tuple(batch["image"].shape[-2:]))
        errs = []
        for det, gt, lab in zip(postprocess(boxes, scores, self.post()), batch["boxes"], batch["labels"]):
            errs.append(_match_error(det["boxes"], det["labels"], gt.numpy(), lab.numpy()))
        return np.asarray(errs, np.float64)

    def describe(self, pred: dict[str, Any]) -> str:
        names = [f"{d['label']} {d['score']:.2f}" for d in pred["detections"][:5]]
        return f"{pred['count']} detections" + (f": {', '.join(names)}" if names else "")

    def draw(self, image: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        """Boxes with class name and score, one colour per class."""
        return draw_detections(image, pred["detections"])

    def format_metrics(self, metrics: dict[str, Any]) -> str:
        return format_ap_table(metrics)

    def summary(self, metrics: dict[str, Any]) -> str:
        return f"AP50 {metrics.get('ap50', float('nan')):.4f}  AP[.5:.95] {metrics.get('map', float('nan')):.4f}"


def afdet_config(o: DetectionOptions) -> AFDetLossConfig:
    """The points head's assignment and loss settings from the task options."""
    return AFDetLossConfig(o.reg_max, o.assign_topk, o.assign_alpha, o.assign_beta, o.lambda_ciou, o.lambda_bce,
                           o.lambda_dfl)


def _match_error(pb: np.ndarray, pl: np.ndarray, gb: np.ndarray, gl: np.ndarray, thr: float = 0.5) -> float:
    """Share of unmatched predictions and ground truth (see :meth:`DetectionTask.sample_error`)."""
    total = len(pb) + len(gb)
    if total == 0:
        return 0.0
    iou = box_iou(gb, pb) * (gl[:, None] == pl[None, :]) if len(pb) and len(gb) else np.zeros((len(gb), len(pb)))
    used, matched = np.zeros(len(pb), bool), 0
    for g in range(len(gb)):  # few boxes per image: a tiny loop over ground truth, vectorized over detections
        cand = np.where(~used & (iou[g] >= thr), iou[g], -1.0)
        if len(cand) and cand.max() >= thr:
            used[int(cand.argmax())] = True
            matched += 1
    return (total - 2 * matched) / total


def _colour(c: int) -> tuple[int, int, int]:
    hue = (c * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2RGB)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def class_probability(model: torch.nn.Module, x: torch.Tensor, class_id: int, reg_max: int | None = None,
                      num_classes: int | None = None) -> torch.Tensor:
    """max over anchors of Pr(object)·Pr(class | object) for normalized inputs x (B, C, H, W) → (B,).

    This is the score of the image's best detection of ``class_id`` (NMS and thresholds never change the max).
    A (B, N, K) output is a points head's (K = 4(R + 1) + C: σ(class logit)) or a graph-decoded export's
    (K = 4 + C: boxes then scores); ``reg_max`` and ``num_classes`` tell them apart when the model (an ONNX file)
    does not carry them.
    """
    raw = model(x).float()
    if raw.dim() == 3:
        c = num_classes or getattr(model, "num_classes", None)
        if c is not None and raw.shape[-1] == 4 + c:  # decoded in the graph: [x1, y1, x2, y2, scores]
            return raw[..., 4 + class_id].amax(1)
        r = reg_max if reg_max is not None else int(model.reg_max)
        return torch.sigmoid(split_output(raw, r)[1][..., class_id]).amax(1)
    k = getattr(model, "num_anchors", None) or raw.shape[1] // (5 + getattr(model, "num_classes", 1))
    _, conf, cls = split_raw(raw, k)
    return (torch.sigmoid(conf) * torch.softmax(cls, -1)[..., class_id]).amax(1)


def person_probability(artifact: Any, images: list[np.ndarray] | torch.Tensor,
                       class_name: str = "person") -> torch.Tensor:
    """p(person in image) = max over detections of the person score, from a detection artifact (a teacher).

    Args:
        artifact: a loaded detection :class:`~edgevision.artifacts.Artifact`.
        images: RGB uint8 arrays (H, W, 3) of any size, or a float tensor (B, 3, H, W) in [0, 1] (not normalized).
        class_name: the class to score.

    Returns:
        (B,) probabilities in [0, 1] (no gradient).
    """
    task = artifact.task
    names = task["class_names"] if isinstance(task, dict) else task.class_names
    if class_name not in names:
        raise ConfigError(f"{artifact.path}: the detector has no class {class_name!r} (classes: {', '.join(names)})")
    pre = artifact.preprocess
    h, w = pre["input_size"]
    if isinstance(images, torch.Tensor) and pre.get("resize") == "letterbox":  # letterboxed like its training data
        images = [(t.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy() for t in images.float()]
    if isinstance(images, torch.Tensor):
        x = torch.nn.functional.interpolate(images.float(), size=(h, w), mode="bilinear", align_corners=False)
    else:
        pad = int(pre.get("pad", LETTERBOX_PAD))
        x = torch.from_numpy(np.stack([fit_image(im, (h, w), "letterbox", pad=pad) if pre.get("resize") == "letterbox"
                                       else cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images])
                             .transpose(0, 3, 1, 2).astype(np.float32) / 255)
    x = (x - torch.tensor(pre["mean"]).view(1, -1, 1, 1)) / torch.tensor(pre["std"]).view(1, -1, 1, 1)
    with torch.inference_mode():
        return class_probability(artifact.model.eval(), x, names.index(class_name), task.get("reg_max") if
                                 isinstance(task, dict) and task.get("head") == "points" else None, len(names))


def draw_detections(image: np.ndarray, detections: list[dict[str, Any]]) -> np.ndarray:
    """A copy of ``image`` with each ``{box, label, score, class_id}`` drawn: box, filled tag, "label score"."""
    out = np.ascontiguousarray(image.copy())
    scale = max(0.4, out.shape[1] / 800)
    for d in sorted(detections, key=lambda d: d["score"]):
        col = _colour(d["class_id"])
        x1, y1, x2, y2 = (round(v) for v in d["box"])
        cv2.rectangle(out, (x1, y1), (x2, y2), col, max(1, int(2 * scale)))
        text = f"{d['label']} {d['score']:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
        ty = max(y1, th + 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 2, ty), col, -1)
        cv2.putText(out, text, (x1 + 1, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out
