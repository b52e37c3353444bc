"""A face embedder distilled from dlib-face on LFW peopleDevTrain, tested on people it never saw, beside dlib itself.

    nice -n 10 flock /tmp/edgevision-bench.lock .venv/bin/python benchmarks/face_embedding.py

Needs the ``[teachers]`` extra (dlib-bin, face-recognition-models) and ``../shared/datasets`` (LFW, ORL).
Writes ``benchmarks/results/face_embedding.json`` and the student's run folder ``runs/bench/face_embedding/``.
Everything runs on one thread (torch and dlib); the teacher's outputs are cached (offline distillation; the eval
embeddings of dlib in ``$EDGEVISION_CACHE/face-embedding``), so a re-run costs only the training.

Protocol:
- training: ``lfw`` source, ``people: devtrain`` (View 1's training people, 4,038 names), the first
  ``--train-people`` (evenly spaced) with ≥ 2 images, ≤ ``--per-id`` images each, centre crop 0.56 of the photo at
  64×64 RGB; ``face_cnn`` (embedding 128) learns dlib's normalized descriptor (1 − cos + relational KD, α = 1:
  no labels used), last epoch kept;
- LFW identification: every ``peopleDevTest`` person (disjoint from training) with ≥ 4 images: images 1-3 enrolled,
  the next ≤ 3 are probes against a gallery of all of them; rank-1 = the best-matching name is right;
- calibration: the threshold for FAR 1 % / 0.1 % from the impostor scores of that identification (each probe
  against every other enrolled image); this is the threshold a new gallery of that embedder stores;
- LFW verification: View 2 ``pairs.txt`` pairs in which neither person is a training identity: accuracy with a
  threshold chosen on the other folds (LFW's protocol on the subset), TAR at FAR 1 % / 0.1 % on the pairs (oracle),
  and FAR / TAR reached with the calibrated thresholds;
- ORL: all 40 people (none in training), images 1-3 enrolled, 4-10 probes, centre square crop;
- speed: ms per face on one thread, interleaved rounds (dlib: chip + descriptor of a 112-px crop; student:
  forward_features of a 64-px crop), medians after warm-up; bytes: dlib's two model files, the student's embedder
  (features + fc, without the training-only identity head) in float32, and ``student_evz``: the same student with
  k-means shared weights (8-bit conv, 5-bit linear codebooks, no fine-tuning) packed as ``.evz`` (file bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import require, save

OUT = Path("runs/bench/face_embedding")
SIZE, DLIB_SIZE, CROP = 64, 112, 0.56


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-people", type=int, default=0, help="at most this many devtrain people (0: all)")
    ap.add_argument("--per-id", type=int, default=20)
    ap.add_argument("--min-images", type=int, default=1, help="devtrain people with at least this many images "
                    "(1: all; α = 1 needs no labels)")
    ap.add_argument("--holdout-people", type=int, default=60, help="devtrain people kept out of training to "
                    "choose the student on (validation identities)")
    ap.add_argument("--cache-only", action="store_true", help="build the teacher cache of the training images "
                    "(the distill stage's offline entry) and stop")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--val-per-id", type=int, default=0, help="0: every image teaches (α = 1 needs no validation)")
    ap.add_argument("--pairs", type=int, default=300, help="at most this many View 2 pairs (half genuine)")
    ap.add_argument("--relational-weight", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--test-people", type=int, default=80, help="at most this many LFW test people (0: all)")
    ap.add_argument("--orl-people", type=int, default=40)
    ap.add_argument("--orl-probes", type=int, default=4, help="ORL probes per person (images 4, 5, …)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--hflip", type=float, default=0.0, help="flip probability of the training crops (the cached "
                    "targets are of the unflipped crops)")
    ap.add_argument("--widths", default="16,32,64,96,128", help="face_cnn conv widths (one block each)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--train-only", action="store_true", help="train (or reuse) the student and stop")
    ap.add_argument("--ship", action="store_true", help="install the packed student as the shipped model "
                    "face-embedder (src/edgevision/pretrained/), its card carrying the calibrated thresholds")
    ap.add_argument("--tag", default="", help="write results/face_embedding_TAG.json (a variant)")
    return ap.parse_args()


def lfw_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"people": "devtrain", "max_people": args.train_people or None, "max_per_id": args.per_id,
            "min_images": args.min_images, "crop": CROP, "val_per_id": args.val_per_id,
            "holdout_people": args.holdout_people}


def train_data(args: argparse.Namespace) -> dict[str, Any]:
    return {"source": "lfw", "input_size": SIZE, "channels": 3, "options": lfw_options(args)}


def build_cache(args: argparse.Namespace) -> Path:
    """The offline teacher entry of the training split, keyed exactly as the distill stage keys it."""
    from edgevision.compress.distill.cache import TeacherCache
    from edgevision.compress.distill.dlib_face import DlibFaceTeacher
    from edgevision.configs.distill import TeacherOptions
    from edgevision.data import DataConfig, load_data

    splits = load_data(DataConfig.model_validate(train_data(args)), "face")
    cache = TeacherCache.for_teacher(DlibFaceTeacher(TeacherOptions()), splits.train, None,
                                     {"classes": splits.class_names})
    print(f"teacher cache {'reused' if cache.reused else 'built'}: {cache.path} ({len(splits.train)} images)")
    return cache.path


def distill_student(args: argparse.Namespace) -> Any:
    import edgevision as ev

    data, run = train_data(args), args.out / "student"
    fresh, t0, c0 = not (run / "card.json").exists(), time.perf_counter(), time.process_time()
    res = ev.distill("dlib-face", out=run, student="face_cnn", task="face", data=data, mode="offline",
                     student_kwargs={"widths": widths(args)}, alpha=1.0, relational_weight=args.relational_weight,
                     epochs=args.epochs, batch_size=64, lr=args.lr, keep="last", threads=1,
                     augment={"hflip": args.hflip}, resume=True)
    if fresh:  # the budget of this training (the teacher cache is built before and timed on its own)
        from edgevision.utils.io import write_json

        write_json(args.out / "budget.json", {"train_cpu_minutes": (time.process_time() - c0) / 60,
                                              "train_wall_minutes": (time.perf_counter() - t0) / 60})
    return res


def widths(args: argparse.Namespace) -> list[int]:
    return [int(w) for w in str(args.widths).split(",")]


def embedder_artifact(run: Path, out: Path) -> Path:
    """The student without its training-only identity head (one cosine class left), so the file holds the
    embedder only: ``forward_features`` and every saved option are the trained model's."""
    import torch

    from edgevision.artifacts import load_artifact, save_model
    from edgevision.models import build_model
    from edgevision.models.base import get_arch

    art = load_artifact(run)
    spec = get_arch(art.model)
    model = build_model(spec.name, **{**spec.kwargs, "num_classes": 1})
    state = {k: v for k, v in art.model.state_dict().items() if not k.startswith("head.")}
    missing = model.load_state_dict(state, strict=False).missing_keys
    assert all(k.startswith("head.") for k in missing), missing
    with torch.no_grad():
        model.head.weight.copy_(torch.nn.functional.normalize(torch.ones_like(model.head.weight), dim=1))
    out.mkdir(parents=True, exist_ok=True)
    return save_model(out / "embedder.pt", model.eval(), task={**art.task, "class_names": ["face"]},
                      preprocess=art.preprocess, meta=art.meta)


def pack_student(run: Path, out: Path) -> Path:
    """k-means weight sharing (8-bit conv, 5-bit linear codebooks; no fine-tuning) then the ``.evz`` container."""
    import edgevision as ev

    shared = ev.cluster(run, out=out / "cluster", epochs=0, resume=True)
    return ev.pack(shared.run_dir, out=out / "pack", resume=True).artifact


def cache_dir() -> Path:
    root = os.environ.get("EDGEVISION_CACHE") or Path.home() / ".cache" / "edgevision"
    return Path(root) / "face-embedding"


class Dlib:
    """dlib-face on crops (N, H, W, 3) uint8; its embeddings of a key list are cached on disk."""

    name = "dlib-face"

    def __init__(self) -> None:
        from edgevision.compress.distill.dlib_face import DlibFaceTeacher
        from edgevision.configs.distill import TeacherOptions

        self.teacher = DlibFaceTeacher(TeacherOptions())
        self.size_bytes = self.teacher.size_bytes()

    def embed(self, images: np.ndarray, tag: str = "") -> np.ndarray:
        import torch

        key = hashlib.sha256((tag + self.teacher.fingerprint()).encode() + images.tobytes()).hexdigest()[:20]
        path = cache_dir() / f"{key}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
        out = np.concatenate([self.teacher.logits(torch.from_numpy(images[i:i + 32]).permute(0, 3, 1, 2).float()
                                                  / 255).numpy() for i in range(0, len(images), 32)])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out, allow_pickle=False)
        tmp.replace(path)
        return out

    def one(self, image: np.ndarray) -> None:
        self.teacher.model.embed(self.teacher.chips(_x01(image[None])))


class Student:
    """The distilled face_cnn's normalized forward_features on crops at its input size."""

    def __init__(self, run: Path, name: str = "student") -> None:
        from edgevision.artifacts import load_artifact
        from edgevision.models import count_params

        art = load_artifact(run)
        self.model, self.name = art.model.eval(), name
        self.mean = np.array(art.preprocess["mean"], np.float32).reshape(1, -1, 1, 1)
        self.std = np.array(art.preprocess["std"], np.float32).reshape(1, -1, 1, 1)
        self.params = count_params(self.model) - count_params(self.model.head)
        self.size_bytes = 4 * self.params

    def _x(self, images: np.ndarray) -> Any:
        import torch

        return torch.from_numpy((images.transpose(0, 3, 1, 2).astype(np.float32) / 255 - self.mean) / self.std)

    def embed(self, images: np.ndarray, tag: str = "") -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            f = torch.cat([self.model.forward_features(self._x(images[i:i + 256])) for i in range(0, len(images),
                                                                                                   256)])
        return F.normalize(f, dim=1).numpy()

    def one(self, image: np.ndarray) -> None:
        import torch

        with torch.inference_mode():
            self.model.forward_features(self._x(image[None]))


def _x01(images: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255


def lfw_identification_sets(root: Path, limit: int) -> dict[str, Any]:
    from edgevision.faces.lfw import archive

    arc = archive(str(root))
    counts = arc.counts()
    people = [n for n in arc.people("devtest") if counts[n] >= 4][:limit or None]
    enrol = [(n, k) for n in people for k in (1, 2, 3)]
    probes = [(n, k) for n in people for k in range(4, min(counts[n], 6) + 1)]
    return {"people": people, "enrol": enrol, "probes": probes}


def view2_pairs(root: Path, train_names: set[str], limit: int) -> list[tuple[int, tuple, tuple]]:
    from edgevision.faces.lfw import read_pairs

    ok = [p for p in read_pairs(root) if p[1][0] not in train_names and p[2][0] not in train_names]
    gen, imp = [p for p in ok if p[1][0] == p[2][0]], [p for p in ok if p[1][0] != p[2][0]]
    n = min(limit // 2, len(gen), len(imp))
    pick = lambda ps: [ps[i] for i in np.unique(np.linspace(0, len(ps) - 1, n).round().astype(int))]  # noqa: E731
    return pick(gen) + pick(imp)


def crops(root: Path, keys: list[tuple[str, int]], size: int) -> np.ndarray:
    from edgevision.faces.lfw import load_faces

    return load_faces(root, keys, (size, size), CROP, 3)


def orl_crops(size: int, people: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    from edgevision.faces.orl import load_orl

    images, subject, index = load_orl(str(require("orl_faces")))
    keep = subject <= people
    images, subject, index = images[keep], subject[keep], index[keep]
    h, w = images.shape[1:]
    y0 = (h - w) // 2  # the centre w×w square of the 92×112 portrait
    sq = [cv2.resize(im[y0:y0 + w], (size, size), interpolation=cv2.INTER_AREA) for im in images]
    return np.stack([np.repeat(s[..., None], 3, 2) for s in sq]), subject, index


def rank1(gal_emb: np.ndarray, gal_names: list[str], probe_emb: np.ndarray, probe_names: list[str]) -> float:
    from edgevision.faces.gallery import match

    best = [r[0][0] for r in match(probe_emb, gal_names, gal_emb, k=1)]
    return float(np.mean([b == p for b, p in zip(best, probe_names)]))


def impostor_scores(gal_emb: np.ndarray, gal_names: list[str], probe_emb: np.ndarray, probe_names: list[str]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) cosine scores of every probe against every enrolled image."""
    s = probe_emb @ gal_emb.T
    same = np.array(probe_names)[:, None] == np.array(gal_names)[None, :]
    return s[same], s[~same]


def pair_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> float:
    """LFW's protocol: per fold, the threshold that maximizes accuracy on the other folds; mean test accuracy."""
    accs = []
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        cand = np.unique(scores[tr])
        acc = [((scores[tr] >= t) == same[tr]).mean() for t in cand]
        t = cand[int(np.argmax(acc))]
        accs.append(((scores[te] >= t) == same[te]).mean())
    return float(np.mean(accs))


def evaluate(emb: Any, root: Path, ident: dict[str, Any], pairs: list, size: int, args: argparse.Namespace
             ) -> dict[str, Any]:
    from edgevision.faces.openset import rates, tar_at_far, threshold_for_far

    g = emb.embed(crops(root, ident["enrol"], size), "enrol")
    p = emb.embed(crops(root, ident["probes"], size), "probes")
    gn, pn = [n for n, _ in ident["enrol"]], [n for n, _ in ident["probes"]]
    _, imp = impostor_scores(g, gn, p, pn)
    calib = {str(far): threshold_for_far(imp, far) for far in (0.01, 0.001)}
    keys = sorted({k for _, a, b in pairs for k in (a, b)})
    e = dict(zip(keys, emb.embed(crops(root, keys, size), "pairs")))
    scores = np.array([float(e[a] @ e[b]) for _, a, b in pairs])
    same = np.array([a[0] == b[0] for _, a, b in pairs])
    folds = np.array([f for f, _, _ in pairs])
    o_img, o_sub, o_idx = orl_crops(size, args.orl_people)
    keep = o_idx <= 3 + args.orl_probes
    o, o_sub, o_idx = emb.embed(o_img[keep], "orl"), o_sub[keep], o_idx[keep]
    enrol_o, probe_o = o_idx <= 3, o_idx > 3
    return {
        "lfw_devtest_rank1": rank1(g, gn, p, pn),
        "threshold": calib,
        "lfw_pairs": {"accuracy": pair_accuracy(scores, same, folds),
                      **{f"tar_at_far_{far}": tar_at_far(scores[same], scores[~same], far)["tar"]
                         for far in (0.01, 0.001)},
                      "at_calibrated_threshold": {far: rates(scores[same], scores[~same], t)
                                                  for far, t in calib.items()}},
        "orl_rank1": rank1(o[enrol_o], [f"s{s}" for s in o_sub[enrol_o]], o[probe_o],
                           [f"s{s}" for s in o_sub[probe_o]]),
    }


def speed(embedders: list[tuple[Any, np.ndarray]], rounds: int) -> dict[str, float]:
    """ms per face, one thread: interleaved rounds of 5 calls each, median of the per-call times after warm-up."""
    import torch

    torch.set_num_threads(1)
    times: dict[str, list[float]] = {e.name: [] for e, _ in embedders}
    for r in range(rounds + 2):
        for e, img in embedders:
            t0 = time.perf_counter()
            for _ in range(5):
                e.one(img)
            if r >= 2:  # the first two rounds warm up
                times[e.name].append((time.perf_counter() - t0) / 5 * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def validation(emb: Any, root: Path, names: list[str], size: int) -> float:
    """Rank-1 on the held-out devtrain people (images 1-3 enrolled, the next ≤ 3 probes): what choices use."""
    from edgevision.faces.lfw import archive

    counts = archive(str(root)).counts()
    enrol = [(n, k) for n in names for k in (1, 2, 3)]
    probes = [(n, k) for n in names for k in range(4, min(counts[n], 6) + 1)]
    g, p = emb.embed(crops(root, enrol, size), "val-enrol"), emb.embed(crops(root, probes, size), "val-probes")
    return rank1(g, [n for n, _ in enrol], p, [n for n, _ in probes])


def flip_agreement(dl: Dlib, root: Path, names: list[str]) -> dict[str, float]:
    """How far dlib's embedding of a mirrored crop is from the crop's own (the cached targets are unflipped):
    cosine of the pair, against the mean cosine of two different images of the same person."""
    keys = [(n, k) for n in names for k in (1, 2)]
    x = crops(root, keys, SIZE)
    a, b = dl.embed(x, "flip-a"), dl.embed(np.ascontiguousarray(x[:, :, ::-1]), "flip-b")
    return {"mirror_cosine": float(np.mean(np.sum(a * b, 1))),
            "same_person_cosine": float(np.mean(np.sum(a[0::2] * a[1::2], 1))), "images": len(keys)}


def main() -> None:
    args = parse()
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before torch and dlib load
        os.environ.setdefault(v, "1")
    import torch

    torch.set_num_threads(1)
    root = require("lfw_deepfunneled")
    if args.cache_only:
        build_cache(args)
        return
    res = distill_student(args)
    if args.train_only:
        return
    from edgevision.faces.lfw import LfwOptions, archive, held_out, select

    opts = LfwOptions(**lfw_options(args))
    train_names = {n for n, _ in select(archive(str(root)), opts)}
    val_names = held_out(archive(str(root)), opts)
    ident = lfw_identification_sets(root, args.test_people)
    pairs = view2_pairs(root, train_names, args.pairs)
    assert not train_names & set(ident["people"]), "a test identity was trained on"
    assert not train_names & set(val_names), "a validation identity was trained on"
    embedder = embedder_artifact(res.run_dir, args.out / "embedder")
    dl, st = Dlib(), Student(embedder)
    rows = {"dlib-face": evaluate(dl, root, ident, pairs, DLIB_SIZE, args),
            "student": evaluate(st, root, ident, pairs, SIZE, args)}
    rows["dlib-face"]["val_rank1"] = validation(dl, root, val_names, DLIB_SIZE)
    rows["student"]["val_rank1"] = validation(st, root, val_names, SIZE)
    ms = speed([(dl, crops(root, ident["enrol"][:1], DLIB_SIZE)[0]), (st, crops(root, ident["enrol"][:1], SIZE)[0])],
               args.rounds)
    for name, e in (("dlib-face", dl), ("student", st)):
        rows[name].update(ms_per_face_1t=ms[name], bytes=e.size_bytes)
    rows["student"]["params"] = st.params
    card = json.loads((res.run_dir / "card.json").read_text())
    evz = pack_student(embedder, args.out)
    packed = Student(evz, "student_evz")
    rows["student_evz"] = {**evaluate(packed, root, ident, pairs, SIZE, args),
                           "val_rank1": validation(packed, root, val_names, SIZE),
                           "bytes": evz.stat().st_size, "ms_per_face_1t": ms["student"],
                           "note": "the shipped file: the embedder (no identity head) with k-means shared weights, "
                                   "decoded to the same float network"}
    budget = args.out / "budget.json"
    result = {
        "protocol": {"hflip": args.hflip, "train_people": len(train_names), "train_images": card["train_samples"],
                     "per_id": args.per_id, "min_images": args.min_images, "epochs": args.epochs, "lr": args.lr,
                     "widths": widths(args), "relational_weight": args.relational_weight,
                     "student_input": [3, SIZE, SIZE], "dlib_input": [3, DLIB_SIZE, DLIB_SIZE], "crop": CROP,
                     "val_people": len(val_names), "lfw_test_people": len(ident["people"]),
                     "lfw_enrol_images": len(ident["enrol"]), "lfw_probes": len(ident["probes"]), "pairs": len(pairs),
                     "pairs_genuine": int(sum(a[0] == b[0] for _, a, b in pairs)), "orl_people": args.orl_people,
                     "orl_probes_per_person": args.orl_probes, "threads": 1},
        "rows": rows,
        "rank1_gap_points": 100 * (rows["dlib-face"]["lfw_devtest_rank1"] - rows["student_evz"]["lfw_devtest_rank1"]),
        "speedup": ms["dlib-face"] / ms["student"],
        "size_ratio": dl.size_bytes / evz.stat().st_size,
        "flip": flip_agreement(dl, root, val_names),
        "budget": json.loads(budget.read_text()) if budget.is_file() else None,
        "student_card": {k: card.get(k) for k in ("metrics", "teacher")},
        "load": os.getloadavg()[0],
    }
    name = f"face_embedding_{args.tag}" if args.tag else "face_embedding"
    save(name, result)
    if args.ship:
        ship_embedder(evz, rows["student_evz"], result, card, name)
    print(json.dumps({k: v for k, v in result.items() if k != "student_card"}, indent=1, default=str))


def ship_embedder(evz: Path, row: dict[str, Any], result: dict[str, Any], card: dict[str, Any], name: str) -> None:
    """``face-embedder``: the packed student, its card carrying the calibrated thresholds (a new gallery stores
    the FAR 1 % one) and LFW's framing for the Haar detector (the crop is 0.56 × 250 px around a Viola-Jones box
    that LFW enlarged 2.2×: margin (0.56 · 2.2 − 1) / 2 ≈ 0.116 per side)."""
    from _common import ship

    th = row["threshold"]
    ship("face-embedder", evz, {
        "summary": "a 128-d face embedding of a 64×64 RGB face crop (face_cnn distilled from dlib-face on LFW); "
                   "cosine similarity compares two faces",
        "task": "face",
        "metrics": {"lfw_devtest_rank1": row["lfw_devtest_rank1"], "lfw_pairs_accuracy": row["lfw_pairs"]["accuracy"],
                    "orl_rank1": row["orl_rank1"], "ms_per_face_1t": row["ms_per_face_1t"]},
        "face_calibration": {"far": 0.01, "threshold": th["0.01"], "thresholds": th,
                             "source": "LFW peopleDevTest impostors"},
        "face_detector": {"margin": round((CROP * 2.2 - 1) / 2, 3)},
        "teacher": {"name": "dlib-face", "license": card.get("teacher", {}).get("license")},
        "data": f"LFW deep-funneled peopleDevTrain ({result['protocol']['train_people']} people, "
                f"{result['protocol']['train_images']} images; no peopleDevTest person)",
        "license": "weights: trained by edgevision's benchmark from dlib's CC0 face model; its training images "
                   "(LFW: research use) limit them to research and evaluation use",
        "benchmark": {"script": "benchmarks/face_embedding.py", "results": f"{name}.json"}})


if __name__ == "__main__":
    main()
