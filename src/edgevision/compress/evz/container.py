"""The ``.evz`` container: a Deep Compression model file that loads and runs (never pickle).

Layout (little-endian)::

    magic      8 bytes   89 45 56 5A 0D 0A 1A 0A   ("\\x89EVZ\\r\\n\\x1a\\n", PNG-style: catches text-mode damage)
    version    u16       FORMAT_VERSION
    count      u16       number of sections
    directory  count × (kind 4 ASCII bytes · length u64 · crc32 u32)
    dir_crc    u32       CRC-32 of version … directory
    sections   back to back, in directory order; the file ends exactly after the last one

Sections: ``META`` zlib(JSON: architecture spec, task, preprocessing, meta, card), ``TENS`` zlib(JSON: the
per-tensor table — name, dtype, shape, offset and length in DATA) and ``DATA`` (the tensor payloads of
:mod:`.codec`). Every byte after the magic is covered by a CRC-32, and CRC-32 detects every error burst of
up to 32 bits, so any single corrupted byte — or a truncation, caught by the lengths — is rejected with an
:class:`ArtifactError` before decoding starts; the decoders additionally bound-check every count.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...artifacts import LOADERS, Artifact
from ...errors import ArtifactError, EdgevisionError, cause_of
from ...models.base import ArchSpec, build_from_spec
from ...utils.io import atomic_open
from .codec import decode_tensor

MAGIC = b"\x89EVZ\r\n\x1a\n"
FORMAT_VERSION = 1
FORMAT = "edgevision.evz"
MAX_SECTIONS = 16
MAX_JSON = 1 << 26  # a decompressed JSON section may not exceed 64 MB (no zip bombs)
DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float16, torch.bfloat16, torch.float64,
                                                       torch.int64, torch.int32, torch.int16, torch.int8,
                                                       torch.uint8, torch.bool)}
_DIR = struct.Struct("<4sQI")


class TensorEntry(BaseModel):
    """One row of the tensor table."""

    model_config = ConfigDict(extra="forbid")
    name: str
    dtype: str
    shape: list[int] = Field(max_length=8)
    off: int = Field(ge=0)
    len: int = Field(ge=1)


class MetaSection(BaseModel):
    """The JSON of the META section."""

    model_config = ConfigDict(extra="forbid")
    format: str
    arch: dict[str, Any]
    task: dict[str, Any]
    preprocess: dict[str, Any]
    meta: dict[str, Any] = Field(default_factory=dict)
    card: dict[str, Any] = Field(default_factory=dict)


def _json_section(obj: Any) -> bytes:
    return zlib.compress(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode(), 9)


def build(meta: dict[str, Any], tensors: list[tuple[str, torch.dtype, tuple[int, ...], bytes]]) -> bytes:
    """Assemble a container from META fields and (name, dtype, shape, payload) tensors."""
    table, offset = [], 0
    for name, dtype, shape, payload in tensors:
        table.append({"name": name, "dtype": str(dtype).removeprefix("torch."), "shape": list(shape), "off": offset,
                      "len": len(payload)})
        offset += len(payload)
    sections = [(b"META", _json_section({"format": FORMAT, **meta})), (b"TENS", _json_section(table)),
                (b"DATA", b"".join(t[3] for t in tensors))]
    head = struct.pack("<HH", FORMAT_VERSION, len(sections))
    head += b"".join(_DIR.pack(kind, len(body), zlib.crc32(body)) for kind, body in sections)
    return MAGIC + head + struct.pack("<I", zlib.crc32(head)) + b"".join(body for _, body in sections)


def write(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def split_sections(data: bytes, where: str) -> dict[bytes, bytes]:
    """Check magic, version, directory CRC, lengths and per-section CRCs; return {kind: body}."""
    if len(data) < len(MAGIC) + 8 or data[: len(MAGIC)] != MAGIC:
        raise ArtifactError(f"{where}: not an edgevision .evz file (bad magic number or too short)")
    version, count = struct.unpack_from("<HH", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{where}: .evz version {version} is not supported (this edgevision reads version "
                            f"{FORMAT_VERSION}); re-pack the model with this version")
    if not 1 <= count <= MAX_SECTIONS:
        raise ArtifactError(f"{where}: corrupt header (section count {count})")
    dir_end = len(MAGIC) + 4 + count * _DIR.size
    if len(data) < dir_end + 4:
        raise ArtifactError(f"{where}: truncated header")
    (crc,) = struct.unpack_from("<I", data, dir_end)
    if zlib.crc32(data[len(MAGIC) : dir_end]) != crc:
        raise ArtifactError(f"{where}: corrupt header (checksum mismatch)")
    sections, pos = {}, dir_end + 4
    for i in range(count):
        kind, length, crc = _DIR.unpack_from(data, len(MAGIC) + 4 + i * _DIR.size)
        if pos + length > len(data):
            raise ArtifactError(f"{where}: truncated (section {kind.decode(errors='replace')} needs {length} bytes "
                                f"at offset {pos}, the file has {len(data)})")
        body = data[pos : pos + length]
        if zlib.crc32(body) != crc:
            raise ArtifactError(f"{where}: section {kind.decode(errors='replace')} is corrupt (checksum mismatch)")
        sections[kind] = body
        pos += length
    if pos != len(data):
        raise ArtifactError(f"{where}: {len(data) - pos} unexpected bytes after the last section")
    for need in (b"META", b"TENS", b"DATA"):
        if need not in sections:
            raise ArtifactError(f"{where}: missing section {need.decode()}")
    return sections


def _load_json(body: bytes, what: str) -> Any:
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(body, MAX_JSON)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ArtifactError(f"{what}: JSON section larger than {MAX_JSON} bytes or incomplete")
        return json.loads(text)
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ArtifactError(f"{what}: corrupt JSON section ({e})") from None


def read(data: bytes, where: str = "<bytes>") -> tuple[MetaSection, dict[str, torch.Tensor]]:
    """Parse and fully decode a container: (META fields, state_dict)."""
    sections = split_sections(data, where)
    try:
        meta = MetaSection.model_validate(_load_json(sections[b"META"], f"{where}: META"))
        raw_table = _load_json(sections[b"TENS"], f"{where}: TENS")
        table = [TensorEntry.model_validate(e) for e in (raw_table if isinstance(raw_table, list) else [None])]
    except ValidationError as e:
        raise ArtifactError(f"{where}: malformed section ({str(e).splitlines()[0]})") from None
    if meta.format != FORMAT:
        raise ArtifactError(f"{where}: META format {meta.format!r}, expected {FORMAT!r}")
    blob = sections[b"DATA"]
    state: dict[str, torch.Tensor] = {}
    for e in table:
        if e.name in state:
            raise ArtifactError(f"{where}: tensor {e.name!r} appears twice in the tensor table")
        state[e.name] = _decode_entry(e, blob, where)
    return meta, state


def _decode_entry(e: TensorEntry, blob: bytes, where: str) -> torch.Tensor:
    what = f"{where}: tensor {e.name!r}"
    if e.dtype not in DTYPES:
        raise ArtifactError(f"{what}: unsupported dtype {e.dtype!r}")
    if e.off + e.len > len(blob) or any(d < 0 for d in e.shape):
        raise ArtifactError(f"{what}: payload or shape out of range")
    numel = 1
    for d in e.shape:
        numel *= d
    if numel > 1 << 31:
        raise ArtifactError(f"{what}: {numel} elements exceeds the supported size")
    try:
        return decode_tensor(blob[e.off : e.off + e.len], tuple(e.shape), DTYPES[e.dtype], what)
    except ArtifactError:
        raise
    except (ValueError, IndexError, OverflowError, TypeError, RuntimeError) as err:
        raise ArtifactError(f"{what}: corrupt payload ({type(err).__name__}: {str(err)[:120]})") from None


def read_file(path: str | Path) -> tuple[MetaSection, dict[str, torch.Tensor]]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{p}: no such file") from None
    except OSError as e:
        raise ArtifactError(f"{p}: cannot read ({e.strerror})") from None
    return read(data, str(p))


@LOADERS.register(".evz")
def load_evz(path: Path) -> Artifact:
    """Decode an ``.evz`` into a runnable model (``edgevision eval/profile/export`` accept it directly)."""
    meta, state = read_file(path)
    try:
        arch = ArchSpec.from_dict(meta.arch)
        model = build_from_spec(arch)
        model.load_state_dict(state)
    except EdgevisionError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as e:
        raise ArtifactError(f"{path}: weights do not match the recorded architecture ({cause_of(e)})") from None
    model.eval()
    return Artifact(model, arch, meta.task, meta.preprocess, Path(path), meta.meta, meta.card)
