"""YOLO txt labels (Redmon et al.; the Ultralytics layout): ``images/<split>/x.jpg`` ↔ ``labels/<split>/x.txt``.

Each label line is ``class xc yc w h`` normalized to [0, 1] (a longer line ``class x1 y1 x2 y2 …`` is a polygon;
its bounding box is used). An image without a label file has no objects. ``yolo:/path`` accepts the dataset
folder, a ``data.yaml`` (``path``, ``train``, ``val``, ``test``, ``names``), a ``.zip`` or a shared dataset name
(``yolo:coco128``). Class names come from ``options.classes``, the YAML, or a ``classes.txt`` / ``*.names``
file. Split folders whose names contain train / val / test are used as splits; otherwise a seeded random split.
Label files without an image, and images without a label file, are reported once per folder (one line with the
counts and the first few names), since either usually means a copy went wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from ..errors import DataError
from ..utils.progress import console
from .base import DataSplits
from .detection import DetectionRecord, build_splits, find_dir, keep_valid, resolve_root, split_records
from .imageio import is_image_file
from .sources import SOURCES, DataConfig, options_model


class YoloOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    classes: list[str] | None = None
    in_memory: bool | None = None


def parse_yolo_txt(path: Path, num_classes: int | None = None, clipped: list[str] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (N, 4) xyxy normalized, labels (N,)) of one label file; a malformed line names file and line.

    A box reaching past the image (coordinates in [−1, 2]) is clipped to it, and ``file:line`` goes into
    ``clipped``; values beyond that are not normalized at all (pixel coordinates, say) and name the line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    boxes, labels = [], []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            vals = [float(v) for v in parts]
        except ValueError:
            raise DataError(f"{path}:{n}: expected numbers 'class xc yc w h', got {line.strip()[:60]!r}") from None
        c = vals[0]
        if c != int(c) or c < 0 or (num_classes is not None and c >= num_classes):
            raise DataError(f"{path}:{n}: class {parts[0]!r} is not an integer in 0..{(num_classes or 1) - 1}")
        if len(vals) == 5:
            xc, yc, w, h = vals[1:]
            box = [xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2]
        elif len(vals) >= 7 and len(vals) % 2 == 1:
            pts = np.asarray(vals[1:]).reshape(-1, 2)
            box = [*pts.min(0), *pts.max(0)]
        else:
            raise DataError(f"{path}:{n}: expected 5 values 'class xc yc w h' (or a polygon), got {len(vals)}")
        if min(box) < -1 or max(box) > 2:
            raise DataError(f"{path}:{n}: coordinates must be normalized to [0, 1], got {line.strip()[:60]!r}")
        if (min(box) < -0.01 or max(box) > 1.01) and clipped is not None:
            clipped.append(f"{path.name}:{n}")
        boxes.append(box)
        labels.append(int(c))
    b = np.clip(np.asarray(boxes, np.float32).reshape(-1, 4), 0, 1)
    return keep_valid(b, np.asarray(labels, np.int64))


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder in the path becomes ``labels``, the suffix ``.txt``."""
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
    if i is None:
        return image.with_suffix(".txt")
    parts[i] = "labels"
    return Path(*parts).with_suffix(".txt")


def _names_file(root: Path) -> list[str] | None:
    for pat in ("classes.txt", "*.names"):
        for p in sorted(root.rglob(pat)):
            if "semantic" not in str(p.relative_to(root)):
                return [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    return None


def _yaml_layout(path: Path) -> tuple[dict[str, Path], list[str] | None]:
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DataError(f"{path}: malformed YAML ({e})") from None
    base = Path(cfg.get("path") or path.parent)
    base = base if base.is_absolute() else path.parent / base
    dirs = {s: base / cfg[s] for s in ("train", "val", "test") if isinstance(cfg.get(s), str)}
    names = cfg.get("names")
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else names
    return dirs, names


def _folder_layout(root: Path) -> dict[str, Path]:
    images = find_dir(root, "images")
    if images is None:
        raise DataError(f"yolo:{root}: no images/ folder found (expected images/<split>/*.jpg and labels/<split>/)")
    subs = {s: d for d in sorted(images.iterdir()) if d.is_dir() for s in ("train", "val", "test") if s in d.name}
    return subs or {"all": images}


SHOWN_ORPHANS = 5
_reported: set[str] = set()  # folders whose orphans were reported in this process


def report_orphans(where: str, lonely_labels: list[str], lonely_images: list[str]) -> None:
    """One warning line, once per ``where`` and process: label files with no image, images with no label file."""
    if where in _reported or not (lonely_labels or lonely_images):
        return
    _reported.add(where)

    def few(names: list[str]) -> str:
        return ", ".join(names[:SHOWN_ORPHANS]) + (", …" if len(names) > SHOWN_ORPHANS else "")

    parts = [f"{len(lonely_labels)} label file(s) without an image ({few(lonely_labels)})"] if lonely_labels else []
    if lonely_images:
        parts.append(f"{len(lonely_images)} image(s) without a label file ({few(lonely_images)}; read as images "
                     f"with no objects)")
    console.print(f"[yellow]warning:[/] {where}: {' and '.join(parts)}", highlight=False, soft_wrap=True)


def _check_orphans(folder: Path, files: list[Path]) -> None:
    labels_dir = label_path(folder / "x.jpg").parent
    if labels_dir == folder or not labels_dir.is_dir():
        return  # labels beside the images (no images/ folder): nothing to pair separately
    have = {label_path(f) for f in files}
    lonely_labels = sorted(p.relative_to(labels_dir).as_posix() for p in labels_dir.rglob("*.txt")
                           if p not in have and p.name != "classes.txt")
    lonely_images = sorted(f.relative_to(folder).as_posix() for f in files if not label_path(f).is_file())
    report_orphans(f"yolo {folder}", lonely_labels, lonely_images)


def _records(folder: Path, num_classes: int | None, first_id: int = 0) -> list[DetectionRecord]:
    files = sorted(p for p in folder.rglob("*") if is_image_file(p))
    if not files:
        raise DataError(f"yolo: {folder} holds no images")
    _check_orphans(folder, files)
    out, clipped = [], []
    for i, f in enumerate(files):
        lab = label_path(f)
        b, c = parse_yolo_txt(lab, num_classes, clipped) if lab.is_file() else (np.zeros((0, 4), np.float32),
                                                                                 np.zeros(0, np.int64))
        out.append(DetectionRecord(f, b, c, first_id + i))
    if clipped:
        files_hit = len({c.rpartition(":")[0] for c in clipped})
        shown = ", ".join(clipped[:SHOWN_ORPHANS]) + (", …" if len(clipped) > SHOWN_ORPHANS else "")
        console.print(f"[yellow]warning:[/] yolo {folder}: {len(clipped)} box(es) in {files_hit} label file(s) reach "
                      f"outside the image and were clipped to it ({shown}); boxes left with no area are dropped",
                      highlight=False, soft_wrap=True)
    return out


@SOURCES.register("yolo", description="YOLO txt labels beside images/ (yolo:PATH, e.g. COCO128)")
def yolo_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if task != "detection":
        raise DataError(f"yolo provides detection targets, not {task}")
    opt: YoloOptions = options_model(YoloOptions, cfg)
    root = resolve_root(arg, "yolo")
    if root.is_file() and root.suffix in (".yaml", ".yml"):
        dirs, names = _yaml_layout(root)
        root = root.parent
    else:
        dirs, names = _folder_layout(root), None
    names = list(opt.classes or names or _names_file(root) or [])
    recs: dict[str, list[DetectionRecord]] = {}
    for s, d in dirs.items():  # ids run on across split folders, so they stay unique
        recs[s] = _records(d, len(names) or None, sum(len(v) for v in recs.values()))
    if not names:
        top = max((int(r.labels.max()) for v in recs.values() for r in v if len(r.labels)), default=0)
        names = [str(i) for i in range(top + 1)]
    if "all" in recs or "train" not in recs:
        parts = split_records([r for v in recs.values() for r in v], cfg)
    else:
        extra = split_records(recs["train"], cfg.model_copy(update={
            "val_fraction": 0.0 if "val" in recs else cfg.val_fraction,
            "test_fraction": 0.0 if "test" in recs else cfg.test_fraction}))
        parts = {s: recs.get(s) or extra[s] for s in ("train", "val", "test")}
        parts["train"] = extra["train"]
    return build_splits(parts, names, cfg, f"yolo:{root}", opt.in_memory)
