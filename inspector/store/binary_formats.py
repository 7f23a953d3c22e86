"""Structural checks of the binary files of a model, done before any of their arrays is allocated.

A damaged or hand-edited size field must never reach an allocator: numpy, safetensors and faiss
all trust the sizes they read, so a flipped bit in a 160 KB file can ask for gigabytes. Each
check here reads only headers, works out how many bytes the declared shapes and dtypes need,
and refuses the file unless that is exactly what the file holds. What passes can be loaded
with at most about the file's own size in memory.

Formats: `.npz` (numpy's zip of `.npy` members, stored uncompressed by Inspector),
`.safetensors` (8-byte header length, JSON header, raw tensors) and faiss's own serialisation
of `IndexFlat` and `IndexIVFFlat` (the only indexes PatchCore writes).
"""
from __future__ import annotations

import json
import math
import struct
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from inspector.types import InspectorError

#: More members than this in an .npz is not an Inspector file (each costs a zip directory entry).
MAX_NPZ_MEMBERS = 1024
MAX_SAFETENSORS_HEADER = 16 << 20
#: safetensors dtype -> bytes per element. Inspector stores only floating-point weights.
SAFETENSORS_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                        "U8": 1, "BOOL": 1}
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})


def _refuse(path: Path, reason: str) -> InspectorError:
    return InspectorError(f"Damaged model file {path}: {reason}.")


def _shape_bytes(shape: Any, itemsize: int, path: Path, what: str) -> int:
    if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                        for d in shape):
        raise _refuse(path, f"{what} has an invalid shape {shape!r}")
    return math.prod(shape) * itemsize


# -- npz ----------------------------------------------------------------------------------------
def check_npz(path: Path, expected_shapes: Optional[dict[str, Any]] = None) -> dict[str, tuple[tuple[int, ...], str]]:
    """Check every member's .npy header against its stored size (and `expected_shapes`, when given).

    Returns {array name: (shape, dtype string)}. Compressed members are refused: their declared
    size is not bounded by the file's, and Inspector never writes them.
    """
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise _refuse(path, f"{len(members)} arrays is more than an Inspector model holds")
            for info in members:
                if not info.filename.endswith(".npy"):
                    raise _refuse(path, f"member '{info.filename}' is not an array")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise _refuse(path, f"array '{info.filename}' is compressed (Inspector stores arrays uncompressed)")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
                    else:
                        raise _refuse(path, f"array '{info.filename}' has an unknown format version {version}")
                    header_size = member.tell()
                name = info.filename[:-4]
                if dtype.hasobject:
                    raise InspectorError(f"Refused {path}: array '{name}' holds pickled Python objects, which "
                                         "Inspector never loads (they could run code).")
                if dtype.kind not in "biufc":
                    raise _refuse(path, f"array '{name}' has dtype {dtype}, not a plain number type")
                needed = header_size + _shape_bytes(list(shape), dtype.itemsize, path, f"array '{name}'")
                if needed != info.file_size:
                    raise _refuse(path, f"array '{name}' declares {tuple(shape)} {dtype} ({needed} bytes) "
                                        f"but holds {info.file_size} bytes")
                found[name] = (tuple(int(d) for d in shape), dtype.str)
    except InspectorError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error,
            SyntaxError, UnicodeDecodeError, NotImplementedError, RuntimeError) as exc:
        raise _refuse(path, f"not a readable array archive ({exc})") from exc
    for key, shape in (expected_shapes or {}).items():
        if key not in found:
            raise _refuse(path, f"it lacks the array '{key}'")
        if list(found[key][0]) != list(shape):
            raise _refuse(path, f"array '{key}' has shape {list(found[key][0])}, expected {list(shape)}")
    return found


# -- safetensors --------------------------------------------------------------------------------
def check_safetensors(path: Path, data: bytes, allowed_dtypes: frozenset[str] = FLOAT_DTYPES) -> dict[str, list[int]]:
    """Check the header: known dtypes, shapes that match their byte ranges, ranges that tile the body."""
    if len(data) < 8:
        raise _refuse(path, "too short for a safetensors file")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > min(MAX_SAFETENSORS_HEADER, len(data) - 8):
        raise _refuse(path, f"header size {header_size} exceeds the file")
    try:
        header = json.loads(data[8:8 + header_size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _refuse(path, f"header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _refuse(path, "header is not a JSON object")
    body = len(data) - 8 - header_size
    spans, shapes = [], {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _refuse(path, f"tensor '{name}' has an invalid header entry")
        dtype, offsets = entry["dtype"], entry["data_offsets"]
        counter = name.endswith(".num_batches_tracked") and dtype == "I64" and entry["shape"] == []
        if dtype not in allowed_dtypes and not counter:  # BatchNorm's step counter is the one integer
            raise _refuse(path, f"tensor '{name}' has dtype {dtype!r} (expected one of {', '.join(sorted(allowed_dtypes))})")
        needed = _shape_bytes(entry["shape"], SAFETENSORS_ITEMSIZE[dtype], path, f"tensor '{name}'")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and not isinstance(o, bool)
                                                                        for o in offsets)):
            raise _refuse(path, f"tensor '{name}' has invalid data offsets")
        begin, end = offsets
        if not 0 <= begin <= end <= body or end - begin != needed:
            raise _refuse(path, f"tensor '{name}' declares {entry['shape']} {dtype} ({needed} bytes) "
                                f"but spans bytes {begin}..{end} of {body}")
        spans.append((begin, end))
        shapes[name] = list(entry["shape"])
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise _refuse(path, "tensor data overlaps or leaves gaps")
        position = end
    if position != body:
        raise _refuse(path, f"{body - position} bytes after the last tensor")
    return shapes


# -- faiss --------------------------------------------------------------------------------------
class _Reader:
    """Bounds-checked little-endian reads over bytes; any overrun is a clean refusal."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _refuse(self.path, f"{what} runs past the end of the file")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))[0]

    def sized(self, count: int, itemsize: int, what: str) -> bytes:
        if count < 0 or count * itemsize > len(self.data) - self.pos:
            raise _refuse(self.path, f"{what} declares {count} entries, more than the file holds")
        return self.take(count * itemsize, what)


def _index_header(reader: _Reader) -> tuple[int, int]:
    d = reader.unpack("i", "dimension")
    ntotal = reader.unpack("q", "vector count")
    reader.take(16, "header")  # two unused 64-bit fields
    reader.take(1, "is_trained")
    metric = reader.unpack("i", "metric")
    if metric > 1:
        reader.take(4, "metric argument")
    if d <= 0 or ntotal < 0:
        raise _refuse(reader.path, f"invalid dimension {d} or vector count {ntotal}")
    return d, ntotal


def _flat_index(reader: _Reader) -> tuple[int, int]:
    fourcc = reader.take(4, "index type")
    if fourcc not in (b"IxF2", b"IxFI"):
        raise _refuse(reader.path, f"index type {fourcc!r} is not a flat index")
    d, ntotal = _index_header(reader)
    floats = reader.unpack("Q", "vector storage size")
    if floats != d * ntotal:
        raise _refuse(reader.path, f"{floats} stored values for {ntotal} vectors of dimension {d}")
    reader.sized(floats, 4, "vector storage")
    return d, ntotal


def _ivf_flat_index(reader: _Reader) -> tuple[int, int]:
    d, ntotal = _index_header(reader)
    nlist = reader.unpack("Q", "list count")
    reader.take(8, "nprobe")
    if nlist == 0:
        raise _refuse(reader.path, "an inverted-file index without lists")
    quantizer_d, quantizer_n = _flat_index(reader)
    if quantizer_d != d or quantizer_n != nlist:
        raise _refuse(reader.path, "the coarse quantizer does not match the index")
    map_type = reader.unpack("B", "direct map type")
    reader.sized(reader.unpack("Q", "direct map size"), 8, "direct map")
    if map_type == 2:
        reader.sized(reader.unpack("Q", "direct map table size"), 16, "direct map table")
    if reader.take(4, "inverted lists type") != b"ilar":
        raise _refuse(reader.path, "unknown inverted lists type")
    if reader.unpack("Q", "list count") != nlist or reader.unpack("Q", "code size") != 4 * d:
        raise _refuse(reader.path, "inverted lists do not match the index")
    layout = reader.take(4, "list layout")
    sizes = [0] * nlist
    if layout == b"full":
        if reader.unpack("Q", "list sizes count") != nlist:
            raise _refuse(reader.path, "list sizes do not match the list count")
        sizes = list(struct.unpack(f"<{nlist}Q", reader.sized(nlist, 8, "list sizes")))
    elif layout == b"sprs":
        count = reader.unpack("Q", "list sizes count")
        if count % 2 or count > 2 * nlist:
            raise _refuse(reader.path, "invalid sparse list sizes")
        pairs = struct.unpack(f"<{count}Q", reader.sized(count, 8, "list sizes"))
        for list_no, size in zip(pairs[::2], pairs[1::2]):
            if list_no >= nlist:
                raise _refuse(reader.path, f"list number {list_no} of {nlist}")
            sizes[list_no] = size
    else:
        raise _refuse(reader.path, f"unknown list layout {layout!r}")
    if sum(sizes) != ntotal:
        raise _refuse(reader.path, f"lists hold {sum(sizes)} vectors, the index says {ntotal}")
    for size in sizes:
        reader.sized(size, 4 * d + 8, "inverted list")  # codes then ids
    return d, ntotal


def check_faiss(path: Path, data: bytes, dim: Optional[int] = None, ntotal: Optional[int] = None) -> tuple[int, int]:
    """Walk a serialised IndexFlat / IndexIVFFlat: every size field must fit the bytes that follow,
    the file must end where the index does, and (when given) dimension and count must match."""
    reader = _Reader(data, path)
    fourcc = data[:4]
    if fourcc == b"IwFl":
        reader.take(4, "index type")
        found = _ivf_flat_index(reader)
    else:
        found = _flat_index(reader)
    if reader.pos != len(data):
        raise _refuse(path, f"{len(data) - reader.pos} unexpected bytes after the index")
    if dim is not None and found[0] != dim or ntotal is not None and found[1] != ntotal:
        raise _refuse(path, f"it holds {found[1]} vectors of dimension {found[0]}; the model expects "
                            f"{ntotal} of dimension {dim}")
    return found
