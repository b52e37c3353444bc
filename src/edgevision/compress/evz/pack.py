"""The ``pack`` and ``unpack`` stages: model ⇄ ``.evz``, with the size accounting of Deep Compression.

``pack`` encodes every tensor of the state dict with the cheapest exact encoding (:mod:`.codec`), writes the
container (:mod:`.evz`), decodes it again and checks every weight bit for bit (``verify``), and writes
``compression.json``: per tensor params, nonzeros, bits per index, bits per gap, bytes before Huffman (every
stream fixed-width) and after, the closed-form rate ``n·b / (k·b + n·log2 k)`` next to the measured one for
unpruned shared layers, and the compression rate of the whole file against the dense fp32 state dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...artifacts import Artifact, load_artifact, save_model
from ...config import dump
from ...configs.compress import PackConfig, UnpackConfig
from ...errors import ArtifactError, EdgevisionError
from ...models import count_params
from ...models.complexity import count_macs
from ...runs import RunDir, claim, make_card
from ...stages import StageResult, run_stage, stage
from ...train.objects import module_input
from ...utils.io import write_json
from ...utils.progress import console, make_progress
from ...utils.text import size_vs
from . import container as evz
from .codec import CodecOptions, TensorInfo, closed_form_rate, encode_tensor


def dense_bytes(state: dict[str, torch.Tensor]) -> int:
    """Size of the uncompressed state dict: 4 bytes per float element (fp32), others at their own width."""
    return sum(t.numel() * (4 if t.is_floating_point() else t.element_size()) for t in state.values())


def encode_state(state: dict[str, torch.Tensor], opts: CodecOptions) -> tuple[list[tuple], list[TensorInfo]]:
    tensors, infos = [], []
    with make_progress() as bar:
        job = bar.add_task("encode", total=len(state))
        for name, t in state.items():
            payload, info = encode_tensor(name, t, opts)
            tensors.append((name, t.dtype, tuple(t.shape), payload))
            infos.append(info)
            bar.update(job, advance=1)
    return tensors, infos


def card_summary(art: Artifact) -> dict[str, Any]:
    """The parts of the parent's card that travel inside the ``.evz`` (kept short: every byte counts; the
    compression history is in ``meta['compress']``)."""
    out = {k: art.card[k] for k in ("stage", "created", "edgevision_version", "git_sha", "parent") if k in art.card}
    test = (art.card.get("metrics") or {}).get("test")
    if test:
        out["metrics"] = {"test": test}
    return out


def pack_artifact(art: Artifact, opts: CodecOptions) -> tuple[bytes, list[TensorInfo]]:
    """The ``.evz`` bytes of an artifact, and the size-table rows of its tensors."""
    state = art.model.state_dict()
    tensors, infos = encode_state(state, opts)
    meta = {"arch": art.arch.to_dict(), "task": art.task, "preprocess": art.preprocess, "meta": art.meta,
            "card": card_summary(art)}
    return evz.build(meta, tensors), infos


def size_table(infos: list[TensorInfo], file_bytes: int, dense: int) -> dict[str, Any]:
    """Per-tensor rows plus totals; closed-form rate for dense shared tensors (one fp32 codebook)."""
    rows = []
    for i in infos:
        row = i.to_dict()
        row["rate"] = round(i.params * (4 if i.dtype.startswith(("float", "bfloat")) else 1) / max(i.bytes, 1), 3)
        if i.encoding == "codebook" and i.books == 1 and i.codebook > 1:
            row["closed_form_rate"] = round(closed_form_rate(i.params, i.codebook), 3)
        rows.append(row)
    payload = sum(i.bytes for i in infos)
    fixed = sum(i.fixed_bytes for i in infos)
    totals = {"params": sum(i.params for i in infos), "nonzeros": sum(i.nonzeros for i in infos),
              "payload_bytes": payload, "payload_fixed_bytes": fixed, "container_bytes": file_bytes - payload,
              "evz_bytes": file_bytes, "dense_bytes": dense, "compression_rate": round(dense / file_bytes, 3),
              "huffman_saving": round(1 - payload / max(fixed, 1), 4)}
    return {"tensors": rows, "totals": totals}


def verify(data: bytes, state: dict[str, torch.Tensor], opts: CodecOptions, where: str) -> None:
    """Decode ``data`` and compare every tensor bit for bit (fp16-stored floats against their fp16 rounding)."""
    _, decoded = evz.read(data, where)
    for name, t in state.items():
        got = decoded.get(name)
        want = t.detach()
        if opts.float_dtype == "fp16" and want.dtype == torch.float32 and got is not None:
            same = torch.equal(got, want) or torch.equal(got, want.half().float())
        else:
            same = got is not None and got.dtype == want.dtype and _bits_equal(got, want)
        if not same:
            raise ArtifactError(f"{where}: verification failed: tensor {name!r} does not round-trip exactly")


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    if a.numel() == 0:
        return True
    return bool(np.array_equal(a.contiguous().reshape(-1).view(torch.uint8).numpy(),
                               b.contiguous().reshape(-1).view(torch.uint8).numpy()))


def codec_options(cfg: PackConfig) -> CodecOptions:
    """The codec's view of the pack options (the gap width is checked here: 1–16 or auto)."""
    if cfg.gap_bits != "auto" and not 1 <= cfg.gap_bits <= 16:
        raise EdgevisionError(f"pack.gap_bits: must be in [1, 16] or 'auto', got {cfg.gap_bits}")
    return CodecOptions(cfg.huffman, cfg.gap_bits, cfg.max_codebook, cfg.per_channel, cfg.sparse, cfg.float_dtype)


@stage("pack", PackConfig, input_field="artifact", summary="write the .evz: CSR + codebook + Huffman")
def run_pack(cfg: PackConfig, out: Path) -> StageResult:
    run = RunDir(out)
    if claim(run, resume=cfg.resume, overwrite=cfg.overwrite) == "finished":
        return StageResult(run.path, run.artifact(), run.card())
    opts = codec_options(cfg)
    art = load_artifact(cfg.artifact)
    run.mkdir().write_config(dump(cfg))
    data, infos = pack_artifact(art, opts)
    path = run.path / "model.evz"
    if cfg.verify:
        verify(data, art.model.state_dict(), opts, str(path))
    evz.write(path, data)
    table = size_table(infos, len(data), dense_bytes(art.model.state_dict()))
    write_json(run.path / "compression.json", {**table, "options": dump(cfg), "verified": cfg.verify})
    tot = table["totals"]
    vs = size_vs(tot["evz_bytes"], tot["dense_bytes"])  # "larger" when it grew (a tiny model's container)
    console.print(f"packed {art.arch.label}: {tot['evz_bytes']:,} bytes, {vs} "
                  f"{tot['dense_bytes']:,} bytes of fp32 (Huffman saved {tot['huffman_saving']:.1%} of the payload)",
                  highlight=False, soft_wrap=True)
    card = make_card("pack", task=art.task, model=art.arch.to_dict(), artifact=path, metrics=art.card.get("metrics"),
                     parent=str(art.path), params=count_params(art.model), compression=tot,
                     sparsity=art.card.get("sparsity"), bits=art.card.get("bits"), verified=cfg.verify,
                     input_shape=list(art.input_shape), data=art.meta.get("data"),
                     metrics_note="the weights are bit-identical to the parent's, so are its metrics")
    run.write_card(card)
    return StageResult(run.path, path, card)




@stage("unpack", UnpackConfig, input_field="artifact", summary="decode an .evz back to model.pt")
def run_unpack(cfg: UnpackConfig, out: Path) -> StageResult:
    art = load_artifact(cfg.artifact)
    if art.path.suffix != ".evz":
        raise ArtifactError(f"{art.path}: unpack expects an .evz file")
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    path = save_model(run.path / "model.pt", art.model, task=art.task, preprocess=art.preprocess,
                      meta={**art.meta, "stage": "unpack"})
    card = make_card("unpack", task=art.task, model=art.arch.to_dict(), artifact=path,
                     metrics=art.card.get("metrics"), parent=str(art.path), params=count_params(art.model),
                     macs=count_macs(art.model, art.input_shape), input_shape=list(art.input_shape),
                     data=art.meta.get("data"), evz_bytes=art.path.stat().st_size)
    run.write_card(card)
    console.print(f"unpacked {art.path} → {path}", highlight=False, soft_wrap=True)
    return StageResult(run.path, path, card)


def pack(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Pack a model into an ``.evz``; ``edgevision pack`` in Python.

    Example:
        >>> res = edgevision.pack("runs/lenet/cluster", out="runs/lenet/pack")
        >>> res.card["compression"]["compression_rate"]
    """
    artifact, out, options = module_input(artifact, "pack", out, options)
    return run_stage("pack", {"artifact": str(artifact), **options}, out)


def unpack(artifact: str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Decode an ``.evz`` into ``model.pt``; ``edgevision unpack`` in Python."""
    return run_stage("unpack", {"artifact": str(artifact), **options}, out)
