"""Pascal VOC (Everingham et al. 2010): ``Annotations/*.xml`` + ``JPEGImages/`` (+ ``ImageSets/Main/*.txt``).

``voc:/path`` accepts the VOC folder itself (``VOC2007``), a parent of it (``VOCdevkit``), or a ``.zip``. Splits come
from ``ImageSets/Main/{train,val,test}.txt`` when present (``trainval`` minus ``val`` as train), otherwise from a
seeded random split. VOC pixel indices are 1-based and inclusive: a box ``xmin … xmax`` covers the pixel edges
``xmin − 1 … xmax``. Objects marked *difficult* are dropped unless ``options.difficult: keep``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from .base import DataSplits
from .detection import DetectionRecord, build_splits, find_dir, keep_valid, normalized, resolve_root, split_records
from .imageio import read_image
from .sources import SOURCES, DataConfig, options_model


class VocOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    classes: list[str] | None = Field(None, description="class names in label order (default: sorted names found)")
    difficult: Literal["drop", "keep"] = "drop"
    in_memory: bool | None = Field(None, description="decode all images up front (default: when they fit in 2 GB)")


def _text(node: ET.Element, tag: str, where: Path) -> str:
    el = node.find(tag)
    if el is None or el.text is None:
        raise DataError(f"{where}: missing <{tag}> in a VOC annotation")
    return el.text.strip()


def parse_voc_xml(path: Path) -> tuple[str, tuple[int, int] | None, list[tuple[str, list[float], bool]]]:
    """(filename, (H, W) or None, [(class name, [x1, y1, x2, y2] pixel edges, difficult)]) of one XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"{path}: malformed VOC XML ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: expected a VOC <annotation> root element, got <{root.tag}>")
    fname = root.findtext("filename") or f"{path.stem}.jpg"
    size = None
    if (sz := root.find("size")) is not None and sz.findtext("width") and sz.findtext("height"):
        try:
            w, h = int(float(_text(sz, "width", path))), int(float(_text(sz, "height", path)))
        except ValueError:
            raise DataError(f"{path}: <size> width/height must be numbers") from None
        size = (h, w) if h > 0 and w > 0 else None
    objs = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            raise DataError(f"{path}: an <object> has no <bndbox>")
        try:
            x1, y1, x2, y2 = (float(_text(bb, t, path)) for t in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            raise DataError(f"{path}: <bndbox> coordinates must be numbers") from None
        objs.append((_text(obj, "name", path), [x1 - 1, y1 - 1, x2, y2], (obj.findtext("difficult") or "0") == "1"))
    return fname, size, objs


def _voc_folder(root: Path) -> Path:
    ann = find_dir(root, "Annotations")
    if ann is None:
        raise DataError(f"voc:{root}: no Annotations/ folder found (expected <root>/Annotations/*.xml)")
    return ann.parent


def _image_path(folder: Path, fname: str, stem: str) -> Path:
    for cand in (folder / "JPEGImages" / fname, folder / "JPEGImages" / f"{stem}.jpg", folder / fname):
        if cand.exists():
            return cand
    return folder / "JPEGImages" / fname  # missing: counted and skipped by the loader


def _record(folder: Path, xml: Path, names: list[str], opt: VocOptions, index: int) -> DetectionRecord:
    fname, size, objs = parse_voc_xml(xml)
    path = _image_path(folder, fname, xml.stem)
    objs = [o for o in objs if opt.difficult == "keep" or not o[2]]
    if size is None:  # no <size>: read the image header
        img = read_image(path)
        size = img.shape[:2] if img is not None else (1, 1)
    unknown = [o[0] for o in objs if o[0] not in names]
    if unknown:
        raise DataError(f"{xml}: class {unknown[0]!r} is not in options.classes ({', '.join(names)})")
    boxes = normalized(np.array([o[1] for o in objs], np.float32).reshape(-1, 4), *size)
    labels = np.array([names.index(o[0]) for o in objs], np.int64)
    return DetectionRecord(path, *keep_valid(boxes, labels), id=index, size=(int(size[0]), int(size[1])))


def _class_names(xmls: list[Path], opt: VocOptions) -> list[str]:
    if opt.classes:
        return list(opt.classes)
    names = sorted({o[0] for x in xmls for o in parse_voc_xml(x)[2] if opt.difficult == "keep" or not o[2]})
    if not names:
        raise DataError(f"voc: no objects found in {len(xmls)} annotation files")
    return names


def _image_sets(folder: Path) -> dict[str, list[str]] | None:
    sets = folder / "ImageSets" / "Main"
    read = {s: (sets / f"{s}.txt").read_text().split() for s in ("train", "val", "trainval", "test")
            if (sets / f"{s}.txt").is_file()}
    if "train" not in read and "trainval" not in read:
        return None
    train = read.get("train") or [s for s in read["trainval"] if s not in set(read.get("val", []))]
    return {"train": train, "val": read.get("val", []), "test": read.get("test", [])}


@SOURCES.register("voc", description="Pascal VOC XML boxes + JPEGImages (voc:PATH)")
def voc_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if task != "detection":
        raise DataError(f"voc provides detection targets, not {task}")
    opt: VocOptions = options_model(VocOptions, cfg)
    folder = _voc_folder(resolve_root(arg, "voc"))
    xmls = sorted((folder / "Annotations").glob("*.xml"))
    if not xmls:
        raise DataError(f"voc:{folder}: Annotations/ holds no .xml files")
    names = _class_names(xmls, opt)
    sets = _image_sets(folder)
    if sets is not None:
        index = {x.stem: i for i, x in enumerate(xmls)}
        parts = {s: [_record(folder, xmls[index[t]], names, opt, index[t]) for t in stems if t in index]
                 for s, stems in sets.items()}
    else:
        parts = split_records([_record(folder, x, names, opt, i) for i, x in enumerate(xmls)], cfg)
    return build_splits(parts, names, cfg, f"voc:{folder}", opt.in_memory)
