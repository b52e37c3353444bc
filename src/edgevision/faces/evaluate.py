"""The ``faces_eval`` stage: closed-set rank-1 and open-set identification against held-out impostors.

The *known* data's training split is enrolled as the gallery; its validation and test splits are genuine
probes. The *impostor* data holds identities the model and the gallery never saw; they are split by identity
(alternate classes) into validation and test impostors, so no person is on both sides. For each probe the
score is its best cosine similarity to the gallery (nearest neighbour per name). A genuine probe counts as
a true accept only when its top-1 name is right **and** its score reaches τ (the open-set detection-and-
identification rate, Phillips et al., FRVT); impostors are false accepts when their best score reaches τ.
τ is chosen on validation for each target FAR (:func:`.openset.threshold_for_far`); test reports what it gives.
``verification`` adds the 1:1 view (each probe image against each gallery image), whose thousands of impostor
pairs resolve FAR targets that a few dozen impostor probes cannot.
Writes ``faces_eval.json``, ``roc.png`` and, with ``db``, a ready gallery whose threshold is the first target's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..artifacts import load_artifact
from ..config import dump
from ..configs.faces import FacesEvalConfig
from ..data import DataConfig, load_data
from ..data.base import SampleDataset, TensorSampleDataset
from ..errors import EdgevisionError
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..utils.io import write_json
from ..utils.progress import console
from .gallery import match
from .openset import evaluate_openset
from .recognize import FaceRecognizer


def dataset_images(ds: SampleDataset) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels (N,)) of a classification split: grey (N, H, W), or RGB (N, H, W, 3) for colour data."""
    if isinstance(ds, TensorSampleDataset):
        return _hwc(ds.images), ds.targets["label"].numpy()
    items = [s for i in range(len(ds)) if (s := ds[i]) is not None]
    return _hwc(torch.stack([s["image"] for s in items])), np.array([int(s["label"]) for s in items])


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) → (N, H, W) for one channel, else (N, H, W, C)."""
    return (x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)).contiguous().numpy()


def probe_scores(rec: FaceRecognizer, gallery: tuple[list[str], np.ndarray], ds: SampleDataset,
                 names: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """(best score (N,), top-1 correct (N,) bool) per probe; ``names`` None for impostors (never correct)."""
    imgs, labels = dataset_images(ds)
    ranked = match(rec.embed(imgs), *gallery, k=1)
    scores = np.array([r[0][1] for r in ranked])
    correct = np.array([names is not None and r[0][0] == names[y] for r, y in zip(ranked, labels)])
    return scores, correct


def pair_scores(gallery: tuple[list[str], np.ndarray], emb: np.ndarray, names: list[str | None]
                ) -> tuple[np.ndarray, np.ndarray]:
    """1:1 verification pairs: every probe (N, D) against every gallery image. Returns (genuine, impostor) cosine
    scores; a probe whose name is None (an impostor identity) only forms impostor pairs."""
    sims = emb @ gallery[1].T  # (N, G)
    same = np.asarray(names, dtype=object)[:, None] == np.asarray(gallery[0], dtype=object)[None, :]
    return sims[same], sims[~same]


def _embed(rec: FaceRecognizer, ds: SampleDataset, class_names: list[str] | None) -> tuple[np.ndarray, list]:
    imgs, labels = dataset_images(ds)
    return rec.embed(imgs), [class_names[y] if class_names else None for y in labels]


def verification(rec: FaceRecognizer, gallery: tuple[list[str], np.ndarray], known: Any, iv: SampleDataset,
                 it: SampleDataset, targets: tuple[float, ...]) -> dict[str, Any]:
    """Pairwise 1:1 verification (probe image vs gallery image): many more impostor pairs than probes, so FAR
    targets of 0.1 % are resolvable; τ from the validation pairs, rates on the test pairs."""
    def pairs(ds_known: SampleDataset, ds_imp: SampleDataset) -> tuple[np.ndarray, np.ndarray]:
        ek, nk = _embed(rec, ds_known, known.class_names)
        ei, ni = _embed(rec, ds_imp, None)
        return pair_scores(gallery, np.concatenate([ek, ei]), nk + ni)

    return evaluate_openset(pairs(known.val, iv), pairs(known.test, it), targets)


def _impostor_halves(splits: Any) -> tuple[SampleDataset, SampleDataset]:
    """All images of the impostor identities, split by identity: even class ids → val, odd → test."""
    parts = [splits.train, splits.val, splits.test] if not splits.info.get("val_is_train") else [splits.train,
                                                                                                  splits.test]
    imgs = np.concatenate([dataset_images(p)[0] for p in parts])
    labels = np.concatenate([dataset_images(p)[1] for p in parts])
    import torch

    full = TensorSampleDataset(torch.from_numpy(imgs)[:, None], {"label": torch.from_numpy(labels)},
                               splits.class_names)
    return full.subset(np.flatnonzero(labels % 2 == 0)), full.subset(np.flatnonzero(labels % 2 == 1))


def plot_roc(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = result["openset"]["roc_test"]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(np.maximum(r["far"], 1e-4), r["tar"], lw=1.5)
    for op in result["openset"]["operating_points"]:
        ax.plot(max(op["test"]["far"], 1e-4), op["test"]["tar"], "o", label=f"τ for FAR {op['target_far']:.1%} "
                f"(val): test FAR {op['test']['far']:.2%}, TAR {op['test']['tar']:.1%}")
    ax.set(xscale="log", xlabel="false accept rate (impostors, test)", ylabel="true accept rate (correct and ≥ τ)",
           title="open-set ROC", ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@stage("faces_eval", FacesEvalConfig, input_field="artifact",
       summary="face rank-1 and open-set TAR@FAR against held-out impostors")
def run_faces_eval(cfg: FacesEvalConfig, out: Path) -> StageResult:
    if cfg.db and Path(cfg.db).exists():  # never mix a second enrolment into an existing gallery
        raise EdgevisionError(f"faces_eval.db: {cfg.db} already exists; give a new file for the evaluation gallery")
    rec = FaceRecognizer(cfg.artifact)

    art = load_artifact(cfg.artifact)
    known_cfg = cfg.known or DataConfig(**art.meta["data"])
    known = load_data(known_cfg, "face")
    g_imgs, g_labels = dataset_images(known.train)
    gallery = ([known.class_names[y] for y in g_labels], rec.embed(g_imgs))
    val_g, val_ok = probe_scores(rec, gallery, known.val, known.class_names)
    test_g, test_ok = probe_scores(rec, gallery, known.test, known.class_names)
    result: dict[str, Any] = {"rank1_test": float(test_ok.mean()), "rank1_val": float(val_ok.mean()),
                              "gallery_size": len(g_labels), "identities": known.num_classes,
                              "no_face": known.info.get("no_face", 0)}
    if cfg.impostors is not None:
        imp = load_data(cfg.impostors, "face")
        iv, it = _impostor_halves(imp)
        val_i, _ = probe_scores(rec, gallery, iv, None)
        test_i, _ = probe_scores(rec, gallery, it, None)
        genuine = lambda s, ok: np.where(ok, s, -np.inf)  # noqa: E731  (a wrong top-1 is never a true accept)
        result["openset"] = evaluate_openset((genuine(val_g, val_ok), val_i), (genuine(test_g, test_ok), test_i),
                                             tuple(cfg.targets))
        result["verification"] = verification(rec, gallery, known, iv, it, tuple(cfg.targets))
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    write_json(run.path / "faces_eval.json", result)
    metrics = {"rank1": result["rank1_test"]}
    if "openset" in result:
        plot_roc(result, run.path / "roc.png")
        for op in result["openset"]["operating_points"]:
            metrics[f"tar_at_far_{op['target_far']:g}"] = op["test"]["tar"]
            metrics[f"far_at_far_{op['target_far']:g}"] = op["test"]["far"]
        for op in result["verification"]["operating_points"]:
            metrics[f"verify_tar_at_far_{op['target_far']:g}"] = op["test"]["tar"]
        metrics["threshold"] = result["openset"]["operating_points"][0]["val"]["threshold"]
    if cfg.db:
        with rec.open_gallery(cfg.db) as g:
            g.add_many(gallery[0], gallery[1])
            if "threshold" in metrics:
                g.set_meta("threshold", str(metrics["threshold"]))
                g.set_meta("threshold_basis", f"FAR {cfg.targets[0]:g} on validation impostors (faces eval)")
    console.print(f"faces_eval: rank-1 {metrics['rank1']:.2%}" + "".join(
        f", TAR {v:.1%} at {k}" for k, v in metrics.items() if k.startswith("tar_")), highlight=False)
    card = make_card("faces_eval", task=art.task, model=art.arch.to_dict(), parent=str(art.path), metrics=metrics,
                     data=known_cfg.model_dump(mode="json"))
    run.write_card(card)
    return StageResult(run.path, None, card)


def faces_eval(artifact: str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Closed-set rank-1 and open-set TAR@FAR of a face model (``edgevision faces eval``).

    Example:
        >>> edgevision.faces_eval("runs/faces/train", impostors={"source": "orl",
        ...                        "options": {"subjects": "31-40"}}, db="faces.db")
    """
    return run_stage("faces_eval", {"artifact": str(artifact), **options}, out)
