"""COCO instances JSON (Lin et al. 2014): ``images``, ``annotations`` (``bbox`` = [x, y, w, h] pixels), ``categories``.

``coco:/path`` accepts the JSON file, a folder holding ``annotations/instances_*.json`` (or one ``.json``), a
``.zip``, or a shared dataset name (``coco:coco128``). Images are looked up in ``options.images``, else next to
the JSON's conventional places (``images/<split>/``, ``<split>/``, the JSON's folder). Category ids map to labels
0…C−1 in id order. Crowd annotations are dropped unless ``options.crowd: keep``. Splits: ``options.val_json`` /
``options.test_json`` when given, otherwise a seeded random split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from .base import DataSplits
from .detection import DetectionRecord, build_splits, keep_valid, normalized, random_split, resolve_root
from .sources import SOURCES, DataConfig, options_model


class CocoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    images: str | None = Field(None, description="folder of the images (default: guessed from the layout)")
    val_json: str | None = None
    test_json: str | None = None
    crowd: Literal["drop", "keep"] = "drop"
    in_memory: bool | None = None


def load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno} ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a COCO JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: missing or non-list key {key!r} (not a COCO instances file)")
    return data


def _find_json(root: Path) -> Path:
    if root.is_file():
        return root
    found = sorted(root.rglob("instances_*.json")) or sorted(root.rglob("*.json"))
    if not found:
        raise DataError(f"coco:{root}: no COCO JSON found (expected annotations/instances_<split>.json)")
    train = [p for p in found if "train" in p.stem]
    return (train or found)[0]


def _image_dir(js: Path, opt: CocoOptions) -> Path:
    if opt.images:
        return Path(opt.images)
    split = js.stem.removeprefix("instances_")
    base = js.parent.parent if js.parent.name == "annotations" else js.parent
    for cand in (base / "images" / split, base / split, base / "images", js.parent):
        if cand.is_dir():
            return cand
    raise DataError(f"{js}: cannot find its images (tried {base / 'images' / split}); set data.options.images")


def _categories(data: dict[str, Any], where: Path) -> tuple[list[int], list[str]]:
    try:
        cats = sorted(data["categories"], key=lambda c: int(c["id"]))
        return [int(c["id"]) for c in cats], [str(c["name"]) for c in cats]
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: every category needs an integer 'id' and a 'name'") from None


def parse_coco(path: Path, opt: CocoOptions, cat_ids: list[int] | None = None) -> tuple[list[DetectionRecord],
                                                                                      list[int], list[str]]:
    """Records of one COCO JSON, labelled by position in ``cat_ids`` (default: its own categories in id order).

    Returns (records, category ids, category names) of the file.
    """
    data = load_json(path)
    ids, names = _categories(data, path)
    label_of = {c: i for i, c in enumerate(cat_ids or ids)}
    img_dir = _image_dir(path, opt)
    per_image: dict[int, list[tuple[list[float], int]]] = {}
    for k, a in enumerate(data["annotations"]):
        try:
            x, y, w, h = (float(v) for v in a["bbox"])
            img_id, cat = int(a["image_id"]), int(a["category_id"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: annotations[{k}] needs image_id, category_id and bbox [x, y, w, h]") from None
        if cat not in label_of:
            raise DataError(f"{path}: annotations[{k}] has category_id {cat}, not in categories")
        if a.get("iscrowd") and opt.crowd == "drop":
            continue
        per_image.setdefault(img_id, []).append(([x, y, x + w, y + h], label_of[cat]))
    records = []
    for k, im in enumerate(sorted(data["images"], key=lambda im: im.get("id", 0))):
        try:
            img_id, fname, hh, ww = int(im["id"]), str(im["file_name"]), float(im["height"]), float(im["width"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: images[{k}] needs id, file_name, width and height") from None
        objs = per_image.get(img_id, [])
        boxes = normalized(np.array([o[0] for o in objs], np.float32).reshape(-1, 4), hh, ww)
        labels = np.array([o[1] for o in objs], np.int64)
        records.append(DetectionRecord(img_dir / fname, *keep_valid(boxes, labels), id=img_id,
                                       size=(round(hh), round(ww))))
    return records, ids, names


@SOURCES.register("coco", description="COCO JSON annotations + an image folder: detection boxes")
def coco_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if task != "detection":
        raise DataError(f"coco provides detection targets, not {task}")
    opt: CocoOptions = options_model(CocoOptions, cfg)
    js = _find_json(resolve_root(arg, "coco"))
    records, cat_ids, names = parse_coco(js, opt)
    extra = {s: parse_coco(Path(p), opt, cat_ids)[0] for s, p in (("val", opt.val_json), ("test", opt.test_json)) if p}
    tr, va, te = random_split(len(records), 0.0 if "val" in extra else cfg.val_fraction,
                              0.0 if "test" in extra else cfg.test_fraction, cfg.seed)
    parts = {"train": [records[i] for i in tr], "val": extra.get("val", [records[i] for i in va]),
             "test": extra.get("test", [records[i] for i in te])}
    return build_splits(parts, names, cfg, f"coco:{js}", opt.in_memory)
