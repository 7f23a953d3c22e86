"""The faiss memory bank behind PatchCore: build, search (with exclusions), serialise, load checked.

Kept apart from the detector, as patchcore-inspection's `common.py` keeps its FaissNN, so the
algorithm reads as maths and faiss's quirks live in one place: IVF lists that hold fewer than k
vectors (searched again over every list), ids to leave out (leave-one-image-out calibration), and
a serialised index checked field by field before faiss allocates anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import faiss
import numpy as np

from inspector.store.binary_formats import check_faiss
from inspector.types import InspectorError

INDEXES = ("flat", "ivfflat")
#: Query rows per faiss call: bounds the distance and id arrays faiss allocates per call
#: (and flat search's internal query-by-bank blocks), whatever the number of test patches.
SEARCH_BATCH = 16384


class FaissNearestNeighbours:
    """Exact (`IndexFlatL2`) or inverted-file (`IndexIVFFlat`) L2 search over a memory bank."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def build(cls, bank: np.ndarray, kind: str, nlist: Optional[int], nprobe: int, seed: int) -> "FaissNearestNeighbours":
        dim = bank.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatL2(dim)
        else:
            if nlist is None:  # about sqrt(M) lists, with the 39 training points per list faiss wants
                lists = max(1, min(int(round(np.sqrt(len(bank)))), len(bank) // 39))
            else:
                lists = max(1, min(int(nlist), len(bank)))
            index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, lists, faiss.METRIC_L2)
            index.cp.seed = int(seed)
            index.train(bank)
            index.nprobe = min(int(nprobe), lists)
        index.add(bank)
        return cls(index)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def vectors(self) -> np.ndarray:
        """The stored vectors, in insertion order (the index is their only copy on disk)."""
        if isinstance(self.index, faiss.IndexIVF):
            self.index.make_direct_map()
        return self.index.reconstruct_n(0, self.index.ntotal)

    def search(self, queries: np.ndarray, k: int, exclude: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances and ids of the k nearest vectors, never one of the `exclude` ids; IVF
        queries whose probed lists held fewer than k are searched again over every list.
        Searched `SEARCH_BATCH` queries at a time, so memory stays bounded on large inputs."""
        if k < 1:
            raise InspectorError("PatchCore: no memory-bank feature is left to compare with.")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(queries) <= SEARCH_BATCH:
            return self._search_batch(queries, k, exclude)
        distances = np.empty((len(queries), k), dtype=np.float32)
        neighbours = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), SEARCH_BATCH):
            stop = start + SEARCH_BATCH
            distances[start:stop], neighbours[start:stop] = self._search_batch(queries[start:stop], k, exclude)
        return distances, neighbours

    def _search_batch(self, queries: np.ndarray, k: int, exclude: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        index = self.index
        selector = None
        if exclude is not None and len(exclude):
            selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.ascontiguousarray(exclude, dtype=np.int64)))
        if selector is None:
            distances, neighbours = index.search(queries, k)
        elif isinstance(index, faiss.IndexIVF):
            distances, neighbours = index.search(queries, k, params=faiss.SearchParametersIVF(
                sel=selector, nprobe=index.nprobe))
        else:
            distances, neighbours = index.search(queries, k, params=faiss.SearchParameters(sel=selector))
        missing = np.any(neighbours < 0, axis=1)
        if missing.any() and isinstance(index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(nprobe=index.nlist, sel=selector)
            distances[missing], neighbours[missing] = index.search(np.ascontiguousarray(queries[missing]), k,
                                                                   params=params)
        return distances, neighbours

    def to_bytes(self) -> bytes:
        """faiss's own serialisation (the bytes faiss.write_index writes)."""
        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def from_bytes(cls, path: Path, data: bytes, dim: int, size: int, nprobe: int) -> "FaissNearestNeighbours":
        """An index read from `path`, refused with one line unless it holds `size` finite vectors of `dim`."""
        check_faiss(path, data, dim, size)  # every size field, before faiss allocates
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except (RuntimeError, MemoryError) as exc:
            raise InspectorError(f"Damaged faiss index {path}: {exc}") from exc
        if index.ntotal != size or index.d != dim:
            raise InspectorError(f"{path} holds {index.ntotal} vectors of dimension {index.d}; the model expects "
                                 f"{size} of dimension {dim}.")
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = min(int(nprobe), index.nlist)
        return cls(index)
