"""Teacher files: any ``.onnx`` (onnxruntime) or ``.tflite`` (LiteRT, ``ai-edge-litert``) model, with a small
adapter (``teacher_options``) that says how to feed it and what its first output means.

Input: the student's batch (B, C, H, W) in [0, 1] → ``channels`` (luma or replicated grey) → ``input_size``
(bilinear, antialiased) → ``(x − mean) / std`` → ``layout`` (NCHW or NHWC). A file whose batch dimension is fixed
(often at 1) runs in chunks of that batch, the last one padded with zeros. A ``.tflite`` file runs in the LiteRT
runner of exported files (:class:`edgevision.utils.litert.Runner`).

Output (``teacher_options.output``), turned into the student's logits:

- ``logits`` (B, K): the class map picks the teacher's column for each student class, ``z_c = t[:, m_c]``;
- ``probabilities`` (B, K): the same columns renormalized, ``p_c = t[:, m_c] / Σ_c' t[:, m_c']``, as ``log p``;
- ``probability_map`` (B, K, H, W) or (B, H, W, K) in the file's layout: with a class map as above per pixel;
  without one, channel ``foreground_channel`` is p(foreground) and the target is ``log [1 − p, p]`` on the
  student's ``person`` class (else its class 1) — a person segmenter teaching a person-vs-background student;
- ``embedding`` (B, D): the target of the student's embedding (:mod:`.embedding`).

Probability targets become logits ``log p`` so temperature softening stays ``softmax(log p / T) ∝ p^(1/T)``
(Hinton et al. 2015). A file that is not a model, or whose output shape does not fit the adapter, is one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...configs.distill import TeacherOptions
from ...data.base import SampleDataset
from ...errors import ConfigError, EdgevisionError
from ...tasks.kd import probs_to_logits
from ...utils import litert
from .teacher import Teacher

INSTALL = 'pip install "edgevision[teachers]" (in a checkout: pip install -e ".[teachers]")'
SUFFIXES = (".onnx", ".tflite")
OUTPUT_TASK = {"logits": "classification", "probabilities": "classification", "probability_map": "segmentation",
               "embedding": "face"}
OUTPUTS = tuple(OUTPUT_TASK)  # the values of teacher_options.output


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


class OnnxRunner:
    """An onnxruntime session on the CPU; ``shape`` is the first input's, -1 where dynamic."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.log_severity_level = threads, 3
        try:
            self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ConfigError(f"teacher {path}: not an ONNX model onnxruntime can load ({_first_line(e)})") from None
        inp = self.sess.get_inputs()[0]
        self.input, self.version = inp.name, ort.__version__
        self.shape = tuple(d if isinstance(d, int) else -1 for d in inp.shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.sess.run(None, {self.input: x})[0])


def tflite_runner(path: Path, threads: int = 1) -> litert.Runner:
    """LiteRT's interpreter through the one runner of exported files (:class:`edgevision.utils.litert.Runner`: quiet
    native logs, (de)quantized int8 inputs and outputs, fixed and dynamic shapes); its refusals name the teacher."""
    if not litert.available():
        raise ConfigError(f"teacher {path}: .tflite teachers run on LiteRT (ai-edge-litert): {INSTALL}")
    try:
        return litert.Runner(path, threads)
    except EdgevisionError as e:
        raise ConfigError(f"teacher {e}") from None


def _dims(shape: tuple[int, ...]) -> str:
    """``1×3×64×64``, ``?`` where a dim is dynamic."""
    return "×".join(str(d) if d > 0 else "?" for d in shape)


def _split(shape: tuple[int, ...], layout: str) -> tuple[int, tuple[int, int]]:
    """``(channels, (H, W))`` of a 4-D input shape read in ``layout``; -1 where dynamic."""
    return (shape[3], (shape[1], shape[2])) if layout == "nhwc" else (shape[1], (shape[2], shape[3]))


def _layout(shape: tuple[int, ...], opt: TeacherOptions, name: str) -> str:
    """The adapter's layout, else NHWC when the last dim is 1 or 3; one whose channels are no image's is an error."""
    layout = opt.layout or ("nhwc" if shape[3] in (1, 3) else "nchw")
    c_file, hw = _split(shape, layout)
    if c_file <= 0 or c_file in (1, 3):
        return layout
    other = "nchw" if layout == "nhwc" else "nhwc"
    if opt.layout is None:
        raise ConfigError(f"teacher {name}: its input shape is {_dims(shape)}: {shape[1]} channels read as nchw, "
                          f"{shape[3]} as nhwc; an image input has 1 or 3")
    fix = f"drop it or give {other}" if _split(shape, other)[0] in (1, 3) else "an image input has 1 or 3"
    raise ConfigError(f"teacher {name}: its input shape is {_dims(shape)}; teacher_options.layout {layout} reads "
                      f"it as {c_file} channels at {_dims(hw)}, but an image has 1 or 3 channels: {fix}")


def input_geometry(shape: tuple[int, ...], opt: TeacherOptions, name: str) -> tuple[str, int, tuple[int, int]]:
    """``(layout, channels, (H, W))`` from the adapter, falling back on the file's 4-D input shape; an adapter that
    contradicts a fixed dim is one line naming the file, its shape and the option."""
    if len(shape) != 4:
        raise ConfigError(f"teacher {name}: its input has shape {shape}; an image input (B, C, H, W) or "
                          f"(B, H, W, C) is expected")
    layout = _layout(shape, opt, name)
    c_file, hw_file = _split(shape, layout)
    channels = opt.channels or (c_file if c_file > 0 else None)
    size = opt.input_size if opt.input_size is not None else (hw_file if min(hw_file) > 0 else None)
    if channels is None or size is None:
        unknown = [(w, k) for w, k, v in (("channel count", "channels", channels), ("size", "input_size", size))
                   if v is None]
        raise ConfigError(f"teacher {name}: its input {_dims(shape)} ({layout}) has a dynamic "
                          f"{' and '.join(w for w, _ in unknown)}: give "
                          f"{' and '.join(f'teacher_options.{k}' for _, k in unknown)}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    fixed = (f"teacher {name}: its input is fixed at {c_file} channels, {_dims(hw_file)} (shape {_dims(shape)}, "
             f"{layout})")
    if c_file > 0 and c_file != channels:
        raise ConfigError(f"{fixed}; teacher_options.channels {channels} does not fit it: drop it or give {c_file}")
    if any(f > 0 and f != g for f, g in zip(hw_file, size)):
        raise ConfigError(f"{fixed}; teacher_options.input_size {size[0]}×{size[1]} does not fit it: drop it or give "
                          f"{_dims(hw_file)}")
    return layout, channels, size


def _stats(v: tuple[float, ...], channels: int, key: str, name: str) -> torch.Tensor:
    if len(v) not in (1, channels):
        raise ConfigError(f"teacher {name}: teacher_options.{key} has {len(v)} values; expected 1 or {channels}")
    return torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1)


class FileTeacher(Teacher):
    """A ``.onnx`` / ``.tflite`` file with its adapter; see the module docstring."""

    def __init__(self, path: str | Path, opt: TeacherOptions, name: str | None = None) -> None:
        from .teachers import sha256_file

        self.path, self.opt, self.name = Path(path), opt, name or str(path)
        if opt.output is None:
            raise ConfigError(f"teacher {self.path}: say what its output means: --teacher-options.output "
                              f"{'|'.join(OUTPUTS)}")
        if not self.path.is_file():
            raise ConfigError(f"teacher {self.path}: no such file")
        runner = tflite_runner if self.path.suffix.lower() == ".tflite" else OnnxRunner
        self.runner = runner(self.path, max(1, torch.get_num_threads()))
        self.layout, self.channels, self.size = input_geometry(self.runner.shape, opt, self.name)
        self.mean, self.std = (_stats(opt.mean, self.channels, "mean", self.name),
                               _stats(opt.std, self.channels, "std", self.name))
        self.kind, self.license, self.default_task = opt.output, opt.license, OUTPUT_TASK[opt.output]
        self._sha, self.columns, self.foreground = sha256_file(self.path), None, 1
        self.embedding_dim = None
        if opt.output == "embedding":
            out = self.raw(torch.zeros(1, self.channels, *self.size))
            if out.ndim != 2:
                raise ConfigError(f"teacher {self.name}: output shape {tuple(out.shape)} does not fit output="
                                  f"embedding: expected (B, D)")
            self.embedding_dim = int(out.shape[1])

    def raw(self, x01: torch.Tensor) -> np.ndarray:
        """The file's first output for images (B, C, H, W) in [0, 1], as it gives it."""
        from .teachers import adapt_images

        x = (adapt_images(x01.detach().float(), self.channels, self.size) - self.mean) / self.std
        x = x.permute(0, 2, 3, 1) if self.layout == "nhwc" else x
        x = np.ascontiguousarray(x.numpy(), np.float32)
        b = self.runner.shape[0]
        if b > 0 and len(x) != b:  # a fixed batch (often 1): in chunks of it, the last one padded with zeros
            return np.concatenate([self._run(x[i:i + b], b) for i in range(0, len(x), b)]) if len(x) else x
        return self._run(x, len(x))

    def _run(self, x: np.ndarray, batch: int) -> np.ndarray:
        """The file's first output for ``x`` padded to ``batch`` images; a runtime refusal is one line."""
        n = len(x)
        if n < batch:
            x = np.concatenate([x, np.zeros((batch - n, *x.shape[1:]), x.dtype)])
        try:
            return self.runner(x)[:n]
        except Exception as e:  # onnxruntime and LiteRT raise their own exception types
            raise ConfigError(f"teacher {self.name}: {self.runner.runtime} cannot run it on a {_dims(x.shape)} input "
                              f"(its input is {_dims(self.runner.shape)}; {_first_line(e)})") from None

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        """Check the output against the adapter on one blank image and resolve the class map."""
        if self.kind == "embedding":
            return
        shape = tuple(self.raw(torch.zeros(1, self.channels, *self.size)).shape)
        self.columns, self.foreground = self.resolve(shape, list(class_names))

    def resolve(self, shape: tuple[int, ...], names: list[str]) -> tuple[list[int] | None, int]:
        """``(teacher index per student class or None, student foreground class)`` for an output ``shape``."""
        n, cmap, kind = len(names), self.opt.class_map, self.kind
        spatial = kind == "probability_map"
        if (spatial and len(shape) not in (3, 4)) or (not spatial and len(shape) != 2):
            want = "(B, K, H, W) or (B, H, W, K)" if spatial else f"(B, {n}) for the data's classes {names}"
            raise ConfigError(f"teacher {self.name}: output shape {shape} does not fit output={kind}: expected {want}")
        k = 1 if len(shape) == 3 else shape[1] if not spatial or self.layout == "nchw" else shape[3]
        if cmap is not None:
            if len(cmap) != n or max(cmap) >= k or min(cmap) < 0:
                raise ConfigError(f"teacher {self.name}: class_map {cmap} needs {n} indices (one per student class "
                                  f"{names}) below the teacher's {k} outputs (output shape {shape})")
            return list(cmap), 1
        if spatial:
            if n != 2 or self.opt.foreground_channel >= k:
                raise ConfigError(f"teacher {self.name}: output shape {shape} has {k} channel(s); "
                                  f"foreground_channel {self.opt.foreground_channel} against the rest needs a "
                                  f"2-class student (the data has {names}) and a channel below {k}, or a class_map")
            return None, names.index("person") if "person" in names else 1
        if k != n:
            raise ConfigError(f"teacher {self.name}: output shape {shape} gives {k} classes; the data has {n} "
                              f"{names}: give teacher_options.class_map (teacher index per student class)")
        return None, 1

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        t = torch.from_numpy(self.raw(x01)).float()
        if self.kind == "embedding":
            return t
        if self.kind == "probability_map":
            t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2) if self.layout == "nhwc" else t
        if self.columns is not None:
            t = t[:, self.columns]
            if self.kind != "logits":
                t = t.clamp(min=0) / t.clamp(min=0).sum(1, keepdim=True).clamp(min=1e-12)
        elif self.kind == "probability_map":
            p = t[:, self.opt.foreground_channel].clamp(0, 1)
            t = torch.stack([p, 1 - p] if self.foreground == 0 else [1 - p, p], 1)
        return t if self.kind == "logits" else probs_to_logits(t)

    def fingerprint(self) -> str:
        return f"file:{self._sha}:{self.opt.model_dump_json()}"

    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def info(self) -> dict[str, Any]:
        o = self.opt
        return {**super().info(), "file": str(self.path.resolve()), "sha256": self._sha, "license": self.license,
                "output": self.kind, "runtime": f"{self.runner.runtime} {self.runner.version}",
                "input": {"size": list(self.size), "layout": self.layout, "channels": self.channels,
                          "mean": list(o.mean), "std": list(o.std)},
                **({"class_map": o.class_map} if o.class_map is not None else {}),
                **({"foreground_channel": o.foreground_channel} if self.kind == "probability_map" else {}),
                **({"dim": self.embedding_dim} if self.embedding_dim else {})}


def is_teacher_file(spec: str, opt: TeacherOptions) -> bool:
    """A ``.tflite`` path, or an ``.onnx`` path given with an output adapter (without one, an ``.onnx`` file is
    read as an artifact: edgevision's own, or a foreign one described by ``--teacher-onnx``)."""
    suffix = Path(spec).suffix.lower()
    return suffix == ".tflite" or (suffix == ".onnx" and opt.output is not None)
