"""Single-object localization (Asplund 2016): one box (and a class) per image.

The model outputs (B, 4 + C): four box logits, then class logits. The box is decoded scale-free as
(cx, cy, w, h) = σ(logits) in units of the image size, i.e. normalized coordinates, so the loss does not depend
on the image's pixel size — Asplund's (2016) Euclidean loss on pixels did, and its localizer collapsed to a constant
box.

    L = λ_l1 · smoothL1_β(b̂ − b) + λ_giou · (1 − GIoU(b̂, b)) + λ_cls · CE      (b in normalized xyxy)

``box_loss`` picks smooth-L1, GIoU (Rezatofighi et al. 2019) or both (default). Metrics: mean IoU, accuracy at
IoU ≥ 0.5, top-1 when there are several classes, and ``box_std`` — the spread of the predicted boxes across the
evaluated images, which is ~0 exactly when a localizer has collapsed.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ..config import validate
from ..ops.torch_boxes import cxcywh_to_xyxy, paired_iou_giou
from .base import TASKS, DistillView, Meter, Task
from .kd import soft_regression


class LocalizationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    box_loss: Literal["smooth_l1", "giou", "both"] = "both"
    lambda_l1: float = Field(5.0, ge=0)
    lambda_giou: float = Field(2.0, ge=0)
    lambda_class: float = Field(1.0, ge=0)
    beta: float = Field(0.02, gt=0, description="smooth-L1 transition, in image units")


def decode_boxes(output: torch.Tensor) -> torch.Tensor:
    """Box logits (B, 4 + C) → normalized xyxy boxes (B, 4) via (cx, cy, w, h) = σ(logits)."""
    return cxcywh_to_xyxy(torch.sigmoid(output[:, :4].float()))


class LocalizationMeter(Meter):
    def __init__(self, task: LocalizationTask) -> None:
        self.task = task
        self.pred, self.true, self.cls, self.labels = [], [], [], []
        self.loss_sum, self.n = 0.0, 0

    def update(self, out: dict[str, Any], batch: dict[str, Any]) -> None:
        output = out["output"].detach().float()
        hw = batch["image"].shape[-2:]
        self.pred.append(decode_boxes(output).numpy())
        self.true.append((batch["box"].float() / torch.tensor([hw[1], hw[0], hw[1], hw[0]])).numpy())
        self.cls.append(output[:, 4:].argmax(1).numpy() if output.shape[1] > 5 else np.zeros(len(output), np.int64))
        self.labels.append(batch["label"].numpy() if "label" in batch else np.zeros(len(output), np.int64))
        self.loss_sum += float(out["loss"]) * len(output)
        self.n += len(output)

    def compute(self) -> dict[str, Any]:
        if not self.n:
            return {"loss": float("nan"), "n": 0}
        p, t = torch.from_numpy(np.concatenate(self.pred)), torch.from_numpy(np.concatenate(self.true))
        iou = paired_iou_giou(p, t)[0].numpy()
        m = {"loss": self.loss_sum / self.n, "iou": float(iou.mean()), "acc50": float((iou >= 0.5).mean()),
             "box_std": float(p.numpy().std(0).mean()), "n": self.n}
        if len(self.task.class_names) > 1:
            m["top1"] = float((np.concatenate(self.cls) == np.concatenate(self.labels)).mean())
        return m


@TASKS.register("localization", description="one box and one label per image: IoU")
class LocalizationTask(Task):
    """One box per image from (B, 4 + C) outputs; ``box`` targets are xyxy pixels of the model input."""

    name = "localization"
    primary = "iou"
    mode = "max"

    def __init__(self, class_names: list[str], input_size: list[int] | tuple[int, int] = (128, 128),
                 **options: Any) -> None:
        opts: LocalizationOptions = validate(LocalizationOptions, options, "task_options")
        super().__init__(class_names=list(class_names), input_size=[int(v) for v in input_size], **options)
        self.class_names, self.opts = list(class_names), opts

    @classmethod
    def for_data(cls, splits: Any, **options: Any) -> LocalizationTask:
        return cls(splits.class_names, list(splits.input_size), **options)

    def adapt_model_kwargs(self, kwargs: dict[str, Any], model_meta: dict[str, Any]) -> dict[str, Any]:
        """A localization model takes num_classes = C; any classifier becomes one with 4 + C outputs."""
        if model_meta.get("task", "classification") == "classification":
            return {**kwargs, "num_classes": 4 + len(self.class_names)}
        return kwargs

    spatial_output = True  # the box moves with geometric augmentation

    def distill_view(self, student_out: torch.Tensor, teacher_out: torch.Tensor, batch: dict[str, Any]
                     ) -> DistillView:
        """Class logits (B, C) as soft targets, and the teacher's normalized box σ(out[:, :4]) as a smooth-L1
        target (β = 0.05 of the image side)."""
        t = teacher_out.to(student_out.device).float()
        box = soft_regression(torch.sigmoid(student_out[:, :4].float()), torch.sigmoid(t[:, :4]), beta=0.05)
        return DistillView(student_out[:, 4:], t[:, 4:], extra={"box": box})

    def loss_parts(self, output: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        hw = batch["image"].shape[-2:]
        target = batch["box"].float() / torch.tensor([hw[1], hw[0], hw[1], hw[0]])
        pred = decode_boxes(output)
        o = self.opts
        parts: dict[str, torch.Tensor] = {}
        if o.box_loss in ("smooth_l1", "both"):
            parts["loss_l1"] = o.lambda_l1 * F.smooth_l1_loss(pred, target, beta=o.beta, reduction="none").sum(1).mean()
        if o.box_loss in ("giou", "both"):
            parts["loss_giou"] = o.lambda_giou * (1 - paired_iou_giou(pred, target)[1]).mean()
        if output.shape[1] > 5 and "label" in batch:
            parts["loss_class"] = o.lambda_class * F.cross_entropy(output[:, 4:].float(), batch["label"])
        return {"loss": sum(parts.values()), **{k: v.detach() for k, v in parts.items()}}

    def loss(self, output: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        return self.loss_parts(output, batch)["loss"]

    def step(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        output = self.forward(model, batch)
        return {**self.loss_parts(output, batch), "output": output}

    def batch_metric(self, out: dict[str, Any], batch: dict[str, Any]) -> float:
        hw = batch["image"].shape[-2:]
        target = batch["box"].float() / torch.tensor([hw[1], hw[0], hw[1], hw[0]])
        return float(paired_iou_giou(decode_boxes(out["output"].detach()), target)[0].mean())

    def meter(self) -> LocalizationMeter:
        return LocalizationMeter(self)

    def decode(self, output: torch.Tensor | np.ndarray, image_sizes: list[tuple[int, int]] | None = None
               ) -> list[dict[str, Any]]:
        """Box in the pixels of each original image (or of the model input), plus class and its probability."""
        out = torch.as_tensor(np.asarray(output, np.float32)) if not isinstance(output, torch.Tensor) else \
            output.detach().float()
        boxes = decode_boxes(out).numpy()
        probs = torch.softmax(out[:, 4:], 1).numpy() if out.shape[1] > 5 else np.ones((len(out), 1), np.float32)
        sizes = image_sizes or [tuple(self.kwargs["input_size"])] * len(out)
        res = []
        for b, p, (h, w) in zip(boxes, probs, sizes):
            c = int(p.argmax())
            res.append({"box": [round(float(v), 2) for v in b * np.array([w, h, w, h])], "label": self.class_names[c],
                        "class_id": c, "score": float(p[c])})
        return res

    def sample_error(self, output: torch.Tensor, batch: dict[str, Any]) -> np.ndarray:
        """1 − IoU of the predicted box with the true one."""
        hw = batch["image"].shape[-2:]
        target = batch["box"].float() / torch.tensor([hw[1], hw[0], hw[1], hw[0]])
        return 1 - paired_iou_giou(decode_boxes(output.detach().float()), target)[0].numpy()

    def draw(self, image: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        out = np.ascontiguousarray(image.copy())
        x1, y1, x2, y2 = (round(v) for v in pred["box"])
        t = max(1, out.shape[1] // 200)
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 40, 40), t)
        cv2.putText(out, f"{pred['label']} {pred['score']:.2f}", (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * t, (255, 40, 40), 1, cv2.LINE_AA)
        return out

    def summary(self, metrics: dict[str, Any]) -> str:
        return (f"IoU {metrics.get('iou', float('nan')):.4f}  acc@0.5 {metrics.get('acc50', float('nan')):.4f}  "
                f"box std {metrics.get('box_std', float('nan')):.4f}")
