"""The gallery verbs as public functions: ``faces enroll | identify | verify | delete | list``.

Each is what ``edgevision faces <verb>`` calls. Enrolling needs a few images and no retraining: their
embeddings are appended to the SQLite gallery. Images where no face is found are reported and skipped.
``faces_enroll`` is also a stage, so a recipe can build a gallery after training.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from .. import shipped
from ..compress.distill.dlib_face import INSTALL
from ..compress.distill.dlib_face import NAME as DLIB
from ..compress.distill.dlib_face import available as dlib_available
from ..configs.faces import DetectorConfig, EnrollConfig
from ..errors import ArtifactError, DataError, EdgevisionError
from ..runs import RunDir, make_card
from ..stages import StageResult, stage
from ..utils.text import printable
from ..utils.threads import compute_threads
from .gallery import damaged_as_error, match, rows_query, signed, verified_meta, verified_rows
from .recognize import DEFAULT_THRESHOLD, SHIPPED, UNKNOWN, default_threshold, embed_files, recognizer


def default_embedder(what: str) -> str:
    """The embedder when no ``--artifact`` is given (a new gallery, verify): the shipped ``face-embedder``, else
    dlib-face when its extra is installed."""
    if shipped.path(SHIPPED) is not None:
        return SHIPPED
    if dlib_available():
        return DLIB
    raise DataError(f"{what} needs a face model: this install ships no {SHIPPED}; pass --artifact MODEL (a "
                    f"face_cnn run or .pt/.evz), or --artifact {DLIB} after {INSTALL}")


def _gallery_artifact(db: str | Path, artifact: str | Path | None, new_ok: bool = False) -> str | Path:
    """The artifact to use with a gallery: the one given, else the one recorded when it was created (else, for a
    new gallery when ``new_ok``, the default embedder)."""
    if artifact:
        return artifact
    p = Path(db)
    if new_ok and not p.exists():
        return default_embedder(f"new gallery {p}")
    if not p.is_file():
        raise DataError(f"gallery {p}: no such file (enroll someone first)")
    with _peek(p) as meta:
        if "artifact" not in meta:
            raise EdgevisionError(f"gallery {p}: records no artifact; pass --artifact")
        return meta["artifact"]


class _peek:
    """Read a gallery's meta table without binding a model (to find the artifact it was made with)."""

    def __init__(self, path: Path) -> None:

        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            with damaged_as_error(path):
                self.meta = verified_meta(path, self.db.execute("SELECT key, value FROM meta").fetchall(),
                                          signed(path, self.db))
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> dict[str, str]:
        return self.meta

    def __exit__(self, *exc: Any) -> None:
        self.db.close()


def enroll(db: str | Path, name: str, images: list[str | Path], artifact: str | Path | None = None,
           detect: bool = True, threshold: float | None = None, detector: DetectorConfig | None = None,
           threads: int | None = None) -> dict[str, Any]:
    """Add ``name``'s faces from ``images`` to the gallery ``db`` (created with ``artifact`` if new);
    ``threads``: torch and OpenCV threads while embedding (default: as they are).

    Example:
        >>> enroll("faces.db", "Ada Lovelace", ["ada1.jpg", "ada2.jpg"], artifact="runs/faces/train")
    """
    rec = recognizer(_gallery_artifact(db, artifact, new_ok=True), detector)
    with compute_threads(threads):
        emb, used, problems = embed_files(rec, images, detect)
    if not len(emb):
        raise DataError(f"faces enroll {name!r}: no face found in any of {len(images)} image(s): "
                        + "; ".join(f"{p['file']}: {p['reason']}" for p in problems[:5]))
    with rec.open_gallery(db) as g:
        added = g.add(name, emb, used)
        if threshold is not None:
            g.set_meta("threshold", str(threshold))
            g.set_meta("threshold_basis", "set by the user")
        elif "threshold" not in g.meta():  # a new gallery: its embedder's calibrated threshold
            tau, basis = default_threshold(rec)
            g.set_meta("threshold", str(tau))
            g.set_meta("threshold_basis", basis)
        total = g.names().get(name, 0)
    return {"name": name, "added": added, "total": total, "skipped": problems, "db": str(db)}


def identify(db: str | Path, images: list[str | Path], artifact: str | Path | None = None, k: int = 5,
             threshold: float | None = None, detect: bool = True, detector: DetectorConfig | None = None,
             threads: int | None = None) -> list[dict[str, Any]]:
    """Rank-``k`` identities with cosine scores for the largest face in each image; below threshold → unknown."""
    rec = recognizer(_gallery_artifact(db, artifact), detector)
    with rec.open_gallery(db, create=False) as g:
        names, gal = g.load()
        tau = float(g.meta().get("threshold", DEFAULT_THRESHOLD)) if threshold is None else threshold
    out = []
    for f in images:
        with compute_threads(threads):
            emb, _, problems = embed_files(rec, [f], detect)
        if problems:
            out.append({"file": str(f), "error": problems[0]["reason"]})
            continue
        ranked = match(emb, names, gal, k)[0]
        best = ranked[0] if ranked else (UNKNOWN, -1.0)
        out.append({"file": str(f), "name": best[0] if best[1] >= tau else UNKNOWN, "score": best[1],
                    "threshold": tau, "ranked": [{"name": n, "score": s} for n, s in ranked]})
    return out


def verify(image_a: str | Path, image_b: str | Path, artifact: str | Path | None = None,
           threshold: float | None = None, detect: bool = True, detector: DetectorConfig | None = None,
           threads: int | None = None) -> dict[str, Any]:
    """Cosine similarity of the largest faces in two images, and whether it reaches ``threshold`` (default: the
    embedder's calibrated one; ``artifact`` default: dlib-face when its extra is installed)."""
    rec = recognizer(artifact or default_embedder("faces verify"), detector)
    threshold = default_threshold(rec)[0] if threshold is None else threshold
    with compute_threads(threads):
        emb, _, problems = embed_files(rec, [image_a, image_b], detect)
    if problems:
        raise DataError("faces verify: " + "; ".join(f"{p['file']}: {p['reason']}" for p in problems))
    score = float(emb[0] @ emb[1])
    return {"score": score, "threshold": threshold, "same": score >= threshold}


def delete(db: str | Path, name: str, artifact: str | Path | None = None) -> dict[str, Any]:
    """Remove every embedding of ``name`` (a model check still applies: the gallery must match ``artifact``)."""
    rec = recognizer(_gallery_artifact(db, artifact))
    with rec.open_gallery(db, create=False) as g:
        removed = g.delete(name)
    if not removed:
        raise DataError(f"gallery {db}: no one named {name!r} is enrolled")
    return {"name": name, "removed": removed}


def list_gallery(db: str | Path) -> dict[str, Any]:
    """Names with their number of embeddings, and the gallery's meta (model id, threshold)."""

    p = Path(db)
    if not p.is_file():
        raise DataError(f"gallery {p}: no such file")
    with _peek(p) as meta:
        pass
    con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    try:
        with damaged_as_error(p):
            rows, required = con.execute(rows_query(con)).fetchall(), signed(p, con)
        try:
            dim = int(meta.get("dim", ""))
        except ValueError:
            raise ArtifactError(f"gallery {p}: damaged meta table (dim {meta.get('dim')!r})") from None
        names = dict(sorted(Counter(verified_rows(p, rows, dim, required)[0]).items()))
    finally:
        con.close()
    return {"meta": meta, "names": names}




@stage("faces_enroll", EnrollConfig, input_field="artifact", summary="enroll a person's face images into a gallery")
def run_faces_enroll(cfg: EnrollConfig, out: Path) -> StageResult:
    res = enroll(cfg.db, cfg.name, cfg.images, cfg.artifact, cfg.detect, cfg.threshold, cfg.detector,
                 threads=cfg.threads)
    run = RunDir(out).mkdir()
    card = make_card("faces_enroll", parent=cfg.artifact, metrics={"added": res["added"], "total": res["total"],
                                                                    "skipped": len(res["skipped"])}, gallery=cfg.db)
    run.write_card(card)
    return StageResult(run.path, Path(cfg.db), card)


def describe_enroll(r: dict[str, Any]) -> str:
    skipped = "".join(f"\n  skipped {printable(s['file'])}: {s['reason']}" for s in r["skipped"])
    return f"enrolled {r['added']} image(s) of {r['name']!r} ({r['total']} in total){skipped}"


def describe_identify(rows: list[dict[str, Any]]) -> str:
    """One line per image; names and file names come from the user and the gallery, so they are escaped."""
    return "\n".join(f"{printable(r['file'])}: {r['error']}" if "error" in r else
                     f"{printable(r['file'])}: {printable(r['name'])} {r['score']:.3f}  (" + ", ".join(
                         f"{printable(x['name'])} {x['score']:.3f}" for x in r["ranked"]) + ")" for r in rows)


def describe_verify(r: dict[str, Any]) -> str:
    return (f"{'same person' if r['same'] else 'different people'}: cosine {r['score']:.3f} "
            f"(threshold {r['threshold']:.3f})")


def describe_delete(r: dict[str, Any]) -> str:
    return f"deleted {r['removed']} embedding(s) of {r['name']!r}"


def describe_list(r: dict[str, Any]) -> str:
    meta = {k: printable(str(v)) for k, v in r["meta"].items()}  # the gallery file is untrusted input too
    basis = f" ({meta['threshold_basis']})" if meta.get("threshold_basis") else ""
    head = (f"model {meta.get('model_name')} ({meta.get('model_id')}), threshold "
            f"{meta.get('threshold', f'{DEFAULT_THRESHOLD} (default)')}{basis}")
    return "\n".join([head] + [f"  {printable(n)}: {c}" for n, c in r["names"].items()])
