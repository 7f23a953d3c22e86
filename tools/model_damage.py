"""Ways to damage a saved model folder, for the fuzz harness (tools/fuzz_models.py).

Every function is deterministic in the case's seed, so a reported case can be replayed:
`damage(folder, case, scratch)` applies one damage of the case's family to a copy of a model
and, for a forged case, re-seals the manifest as a hand edit would.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

FAMILIES = ("bitflip", "truncate", "extend", "size_field", "json", "special")
FORGED_FAMILIES = ("size_field", "json", "special", "header_bitflip", "truncate")


@dataclass(frozen=True)
class Case:
    detector: str
    family: str
    forged: bool
    seed: int

    @property
    def label(self) -> str:
        return f"{self.detector}/{'forged-' if self.forged else ''}{self.family}#{self.seed}"


def plan_cases(detectors: list[str], count: int, seed: int) -> list[Case]:
    """`count` cases spread evenly over detectors and families (forged and not)."""
    kinds = [(f, False) for f in FAMILIES] + [(f, True) for f in FORGED_FAMILIES]
    cases = []
    for i in range(count):
        detector = detectors[i % len(detectors)]
        family, forged = kinds[(i // len(detectors)) % len(kinds)]
        cases.append(Case(detector, family, forged, seed * 1_000_003 + i))
    return cases


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _flip(data: bytearray, rng: random.Random, limit: Optional[int] = None) -> None:
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(min(len(data), limit) if limit else len(data))
        data[position] ^= 1 << rng.randrange(8)


_HUGE = (0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 40, 2 ** 62, 2 ** 63 - 1)


def _size_field(path: Path, data: bytearray, rng: random.Random) -> str:
    """Set one size or count field of the file's header to an absurd value."""
    if data[:2] == b"PK":  # npz: zip headers and the .npy shape
        spots = [18, 22, 26, 28]
        central = data.find(b"PK\x01\x02")
        if central >= 0:
            spots += [central + 20, central + 24, central + 28]
        end = data.rfind(b"PK\x05\x06")
        if end >= 0:
            spots += [end + 10, end + 12, end + 16]
        shape = data.find(b"'shape': (")
        if shape >= 0 and rng.random() < 0.4:
            close = data.index(b")", shape)
            digits = str(rng.choice(_HUGE[3:])).encode()
            data[shape + 10:close] = (digits + b",")[: close - shape - 10].ljust(close - shape - 10)
            return "npy shape"
        spot = rng.choice(spots)
        data[spot:spot + (2 if spot in (26, 28) else 4)] = struct.pack("<I", rng.choice(_HUGE) & 0xFFFFFFFF)[
            :2 if spot in (26, 28) else 4]
        return f"zip field @{spot}"
    if path.suffix == ".safetensors":
        if rng.random() < 0.5:
            data[:8] = struct.pack("<Q", rng.choice(_HUGE) & 0xFFFFFFFFFFFFFFFF)
            return "header length"
        text = bytes(data)
        start = text.find(b'"shape":[') + 9
        end = text.index(b"]", start)
        data[start:end] = str(rng.choice(_HUGE[3:])).encode()
        return "tensor shape"
    if path.suffix == ".faiss":
        spots = [4, 8, 37] + ([45, 53, 57, 61] if data[:4] == b"IwFl" else [])
        spot = rng.choice(spots + [rng.randrange(0, max(1, min(len(data) - 8, 200)))])
        data[spot:spot + 8] = struct.pack("<q", rng.choice(_HUGE[:-1]) * rng.choice((1, -1)))
        return f"faiss field @{spot}"
    spot = rng.randrange(max(1, len(data) - 8))  # JSON: a number where something else was
    data[spot:spot + 8] = b"99999999"
    return f"digits @{spot}"


NEST_MARK = "@nest@"
_VALUES: tuple[Any, ...] = (None, True, False, 0, -1, 10 ** 30, 1e308, float("nan"), "x", "", [], {}, [1, 2],
                            {"a": 1}, "../../etc/passwd", "/dev/zero", "9" * 5000)


def _json_damage(value: Any, rng: random.Random) -> str:
    """Damage one node of a parsed JSON document in place; returns what was done."""
    parents = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            parents.append((node, path))
            for key, child in node.items():
                walk(child, f"{path}.{key}")
        elif isinstance(node, list) and len(node) < 64:
            parents.append((node, path))
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]")

    walk(value, "")
    node, path = rng.choice(parents)
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    op = rng.choice(("delete", "retype", "retype", "add", "rename", "nest"))
    if not keys:
        op = "add"
    key = rng.choice(keys) if keys else None
    if op == "delete" and isinstance(node, dict):
        del node[key]
    elif op == "rename" and isinstance(node, dict):
        node[f"{key}_"] = node.pop(key)
    elif op == "add":
        if isinstance(node, dict):
            node[f"unknown{rng.randrange(99)}"] = rng.choice(_VALUES)
        else:
            node.append(rng.choice(_VALUES))
    elif op == "nest":  # written out as text by `damage` (building it here would need deep recursion)
        node[key] = f"{NEST_MARK}{rng.choice((50, 5000, 100000))}"
    else:
        op = "retype"
        node[key] = rng.choice(_VALUES)
    return f"{op} {path}.{key}"


def _special(folder: Path, files: list[Path], rng: random.Random, scratch: Path) -> str:
    target = rng.choice(files)
    what = rng.choice(("symlink_out", "symlink_devzero", "fifo", "directory", "empty", "missing", "unlisted",
                       "unlisted_fifo", "detector_dir_link", "weights_devzero", "weights_fifo", "weights_missing"))
    if what.startswith("weights_"):
        meta_path = folder / "model.json"
        meta = json.loads(meta_path.read_text())
        if what == "weights_devzero":
            weights = "/dev/zero"
        elif what == "weights_fifo":
            weights = str(scratch / "weights.fifo")
            os.mkfifo(weights)
        else:
            weights = str(scratch / "moved-away.pth")
        meta["settings"]["weights_file"] = weights
        meta_path.write_text(json.dumps(meta))
        return what
    if what == "symlink_out":
        outside = scratch / target.name
        shutil.copyfile(target, outside)
        target.unlink()
        target.symlink_to(outside)
    elif what == "symlink_devzero":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif what == "fifo":
        target.unlink()
        os.mkfifo(target)
    elif what == "directory":
        target.unlink()
        target.mkdir()
    elif what == "empty":
        target.write_bytes(b"")
    elif what == "missing":
        target.unlink()
    elif what == "unlisted":
        (target.parent / "extra.bin").write_bytes(rng.randbytes(64))
    elif what == "unlisted_fifo":
        os.mkfifo(target.parent / "extra.fifo")
    elif what == "detector_dir_link":
        outside = scratch / "detector-elsewhere"
        shutil.move(str(folder / "detector"), outside)
        (folder / "detector").symlink_to(outside)
    return f"{what} {target.relative_to(folder)}"


def damage(folder: Path, case: Case, scratch: Path) -> str:
    """Apply the case's damage to a copy of a model folder; returns a description."""
    from inspector.store.model_manifest import reseal_model_folder

    rng = random.Random(case.seed)
    files = _files(folder)
    binary = [p for p in files if p.suffix != ".json"]
    if case.family == "special":
        description = _special(folder, files, rng, scratch)
    else:
        pool = binary if case.family in ("header_bitflip", "size_field") and case.forged else files
        if case.family == "json" or (case.forged and case.family == "truncate" and not binary):
            pool = [p for p in files if p.suffix == ".json"]
        if case.forged and case.family == "truncate":
            pool = binary or pool
        path = rng.choice(pool)
        data = bytearray(path.read_bytes())
        if case.family in ("bitflip", "header_bitflip"):
            _flip(data, rng, 256 if case.family == "header_bitflip" else None)
            description = f"{case.family} {path.name}"
        elif case.family == "truncate":
            data = data[: rng.randrange(len(data))]
            description = f"truncate {path.name} to {len(data)}"
        elif case.family == "extend":
            data += rng.randbytes(rng.choice((1, 8, 4096)))
            description = f"extend {path.name}"
        elif case.family == "size_field":
            description = f"size field {path.name}: {_size_field(path, data, rng)}"
        else:
            document = json.loads(data)
            description = f"json {path.name}: {_json_damage(document, rng)}"
            text = json.dumps(document)
            mark = text.find(f'"{NEST_MARK}')
            if mark >= 0:
                end = text.index('"', mark + 1)
                depth = int(text[mark + 1 + len(NEST_MARK):end])
                text = text[:mark] + "[" * depth + "0" + "]" * depth + text[end + 1:]
            data = bytearray(text.encode())
        path.write_bytes(bytes(data))
    if case.forged:
        try:
            reseal_model_folder(folder)
        except Exception as exc:  # noqa: BLE001 - a folder too damaged to re-seal is still a case
            description += f" (not re-sealed: {type(exc).__name__})"
    return description
