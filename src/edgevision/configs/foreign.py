"""How a foreign ONNX file (one not written by edgevision) is to be fed and read: the options every verb that runs
an artifact takes (``eval``, ``predict``, ``bench``, ``quantize``). Given once, they are written into the file's
metadata, so later verbs need none of them (docs/formats/onnx.md, "Foreign ONNX files")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FOREIGN_TASKS = ("classification", "segmentation")  # tasks whose raw outputs are class scores (no decoder needed)
DESCRIBE_FIELDS = ("input_size", "channels", "mean", "std", "task", "classes", "labels")


class ForeignOnnxOptions(BaseModel):
    """The preprocessing and task of a foreign ONNX artifact; ignored (if consistent) by edgevision's own files."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input_size: int | tuple[int, int] | None = Field(
        None, description="foreign ONNX: H×W fed to the model (needed when the file's spatial dims are dynamic; "
        "otherwise read from the file)")
    channels: Literal[1, 3] | None = Field(None, description="foreign ONNX: image channels, 1 (grey) or 3 (RGB) "
                                           "(needed when the file's channel dim is dynamic)")
    mean: tuple[float, ...] | None = Field(None, description="foreign ONNX: per-channel mean subtracted on the 0–1 "
                                           "scale, e.g. 0.485,0.456,0.406 (required once, with std)")
    std: tuple[float, ...] | None = Field(None, description="foreign ONNX: per-channel std divided by on the 0–1 "
                                          "scale, e.g. 0.229,0.224,0.225 (required once, with mean)")
    task: Literal["classification", "segmentation"] | None = Field(
        None, description="foreign ONNX: what the first output holds: class logits (B, K) or per-pixel logits "
        "(B, K, H, W) (default: classification for a (B, K) output)")
    classes: list[str] | None = Field(None, description="foreign ONNX: class names in output order, comma-separated "
                                      "(default: 0 … K−1)")
    labels: str | None = Field(None, description="foreign ONNX: a text file with one class name per line (instead "
                               "of classes)")

    def onnx_description(self) -> dict[str, Any]:
        """The description options that were set (empty when none was)."""
        return {k: getattr(self, k) for k in DESCRIBE_FIELDS if getattr(self, k, None) is not None}
