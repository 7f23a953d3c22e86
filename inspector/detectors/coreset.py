"""Memory-bank subsampling for PatchCore (seed 002, section 3.2).

`greedy_coreset` is the iterative greedy approximation of the minimax facility location
(k-center) problem: repeatedly take the point farthest from everything taken so far. Distances
are computed after a Johnson-Lindenstrauss random projection, never as an N x N matrix: one
vector of "distance to the nearest selected point" is kept and updated in place.

The update is accelerated without changing the result: points are grouped into blocks (a few
Lloyd iterations), and a block whose every point is provably closer to the coreset than to the
new centre (triangle inequality: |c - b| - r_b >= max_{x in block} min_dist(x)) is skipped.
Once the coreset covers the data, almost every block is skipped, which is what makes a 10 %
coreset of 160 000 patches take seconds instead of the half hour of a plain implementation.

`chunked_greedy_coreset` bounds the cost on large training sets: the same greedy, run exactly
inside random chunks of `chunk_size` points with budgets proportional to their size, the chunks
spread over worker threads (torch's kernels release the GIL). One pick then sweeps a chunk that
fits in cache instead of all N points, so the total work is chunk_size * n_select * d instead of
N * n_select * d, and every point's distance to the returned set is at most its chunk's covering
radius. `greedy_coreset` over all points is the paper's configuration.

`random_coreset` is the baseline the paper compares against (Fig. 5).
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Optional

import numpy as np
import torch

from inspector.types import InspectorError, Reporter, as_reporter

#: Width of the random projection used only to choose the coreset (seed 002 uses 128).
DEFAULT_PROJECTION_DIM = 128
#: Points per block of the pruned update (about).
DEFAULT_BLOCK_SIZE = 256
#: Points per independent greedy chunk of `chunked_greedy_coreset`: 16k x 64-d float32 is 4 MiB,
#: about what one core's cache share holds, so a pick costs one in-cache pass.
DEFAULT_CHUNK_SIZE = 16384
#: Rows per chunk for projections: bounds temporary memory.
_CHUNK_ROWS = 65536
#: Elements of the (rows x clusters) distance matrix per chunk when assigning blocks.
_ASSIGN_ELEMENTS = 1 << 21
#: Picks after which the pruned update is judged, and the active-block fraction above which the
#: loop switches to the plain dense update (same result, faster when pruning rarely skips).
_DENSE_PROBE = 64
_DENSE_ACTIVE_FRACTION = 0.5
#: Relative slack on the pruning bound so float32 rounding never prunes a block that matters.
_PRUNE_SLACK = 1e-4


def coreset_size(n_points: int, ratio: float) -> int:
    """Number of points a `ratio` coreset keeps (at least one)."""
    if not 0.0 < ratio <= 1.0:
        raise InspectorError(f"The coreset ratio must be in (0, 1], got {ratio}.")
    return max(1, min(n_points, int(round(n_points * ratio))))


def random_projection(features: np.ndarray, dim: int, seed: int = 0,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Johnson-Lindenstrauss projection (Gaussian matrix) to `dim` columns, as float32 on `device`.

    Features that already have at most `dim` columns are returned unprojected.
    """
    n, width = features.shape
    device = torch.device(device)
    if width <= dim:
        return torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(device)
    generator = torch.Generator().manual_seed(int(seed))
    matrix = (torch.randn(width, dim, generator=generator) / math.sqrt(dim)).to(device)
    out = torch.empty((n, dim), dtype=torch.float32, device=device)
    for start in range(0, n, _CHUNK_ROWS):
        chunk = torch.from_numpy(np.ascontiguousarray(features[start:start + _CHUNK_ROWS], dtype=np.float32))
        out[start:start + len(chunk)] = chunk.to(device) @ matrix
    return out


def random_coreset(n_points: int, n_select: int, seed: int = 0) -> np.ndarray:
    """`n_select` distinct indices drawn uniformly (sorted)."""
    if not 1 <= n_select <= n_points:
        raise InspectorError(f"Cannot select {n_select} of {n_points} points.")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_points, size=n_select, replace=False)).astype(np.int64)


def _squared_distances_to(points: torch.Tensor, sq_norms: torch.Tensor, centre: torch.Tensor,
                          centre_sq: torch.Tensor) -> torch.Tensor:
    """|x - c|^2 for every row x, via |x|^2 - 2 x.c + |c|^2, clamped at 0 (rounding)."""
    return torch.addmv(sq_norms, points, centre, alpha=-2.0).add_(centre_sq).clamp_(min=0.0)


def greedy_coreset_reference(points: torch.Tensor, n_select: int, start: int = 0) -> np.ndarray:
    """Plain k-center greedy on already projected points: O(N) work per selected point.

    Kept as the reference `greedy_coreset` must reproduce (tests) and for tiny inputs.
    """
    points = points.float()
    sq = (points * points).sum(1)
    min_dist = torch.full((len(points),), float("inf"), device=points.device)
    selected = [int(start)]
    index = int(start)
    for _ in range(n_select - 1):
        torch.minimum(min_dist, _squared_distances_to(points, sq, points[index], sq[index]), out=min_dist)
        index = int(torch.argmax(min_dist))
        selected.append(index)
    return np.asarray(selected, dtype=np.int64)


def _make_blocks(points: torch.Tensor, block_size: int, seed: int, iterations: int = 2) -> torch.Tensor:
    """Cluster label per point: a few Lloyd iterations from randomly drawn centres (torch, chunked)."""
    n = len(points)
    n_clusters = max(1, n // block_size)
    if n_clusters == 1:
        return torch.zeros(n, dtype=torch.long, device=points.device)
    generator = torch.Generator().manual_seed(int(seed) + 1)
    centres = points[torch.randperm(n, generator=generator)[:n_clusters].to(points.device)].clone()
    labels = torch.empty(n, dtype=torch.long, device=points.device)
    rows = max(1, _ASSIGN_ELEMENTS // n_clusters)
    for iteration in range(iterations + 1):
        centre_sq = (centres * centres).sum(1)
        for start in range(0, n, rows):
            chunk = points[start:start + rows]
            # argmin |x - c|^2 = argmin (|c|^2 - 2 x.c)
            labels[start:start + len(chunk)] = torch.argmin(torch.addmm(centre_sq, chunk, centres.T, alpha=-2.0), dim=1)
        if iteration == iterations:
            break
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=n_clusters).to(points.dtype)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return labels


class _BlockedPoints:
    """Points regrouped into fixed-capacity blocks (padded), with per-block centre and radius.

    Layout (n_blocks, capacity, d): selecting the active blocks is a fast leading-dimension
    `index_select`, and the update is one batched matrix-vector product. Padding slots have a
    min-distance of 0 and an infinite squared norm, so they are never updated nor selected.
    """

    def __init__(self, points: torch.Tensor, labels: torch.Tensor, capacity: int) -> None:
        device, dtype = points.device, points.dtype
        n, dim = points.shape
        order = torch.argsort(labels, stable=True)
        sorted_labels = labels[order]
        counts = torch.bincount(sorted_labels)
        counts = counts[counts > 0]
        # Split every cluster into ceil(count / capacity) blocks.
        pieces = (counts + capacity - 1) // capacity
        cluster_start = torch.cumsum(counts, 0) - counts
        piece_cluster = torch.repeat_interleave(torch.arange(len(counts), device=device), pieces)
        piece_index = torch.arange(len(piece_cluster), device=device) - torch.repeat_interleave(
            torch.cumsum(pieces, 0) - pieces, pieces)
        block_start = cluster_start[piece_cluster] + piece_index * capacity
        block_count = torch.minimum(counts[piece_cluster] - piece_index * capacity,
                                    torch.full_like(block_start, capacity))
        n_blocks = len(block_start)
        # slot -> original row (-1 for padding)
        slot = torch.arange(capacity, device=device)[None, :]
        valid = slot < block_count[:, None]
        source = torch.where(valid, block_start[:, None] + slot, torch.zeros_like(slot))
        self.rows = torch.where(valid, order[source], torch.full_like(source, -1))  # (n_blocks, capacity)
        self.points = points[self.rows.clamp(min=0)]  # one gather; padding rows zeroed in place
        self.points.masked_fill_(~valid[..., None], 0.0)
        sq = (self.points * self.points).sum(2)
        self.valid = valid
        self.centres = self.points.sum(1) / block_count[:, None].to(dtype)
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, without a full-size temporary
        centre_sq = (self.centres * self.centres).sum(1)
        offsets = (sq - 2.0 * torch.einsum("bkd,bd->bk", self.points, self.centres) + centre_sq[:, None]).clamp_(min=0.0)
        # inflated by the rounding error of the expansion, so the bound stays conservative
        slack = 1e-5 * (torch.where(valid, sq, torch.zeros_like(sq)).amax(1) + centre_sq)
        self.radius = (torch.where(valid, offsets, torch.zeros_like(offsets)).amax(1) + slack).sqrt_()
        self.sq = sq.masked_fill_(~valid, float("inf"))
        self.min_dist = torch.where(valid, torch.full_like(sq, float("inf")), torch.zeros_like(sq))
        self.block_max = torch.full((n_blocks,), float("inf"), dtype=dtype, device=device)
        self.capacity = capacity
        self.n_points = n
        self.dense = False

    def slot_of(self, row: int) -> tuple[int, int]:
        """(block, slot) holding original row `row`."""
        block, slot = torch.nonzero(self.rows == int(row))[0].tolist()
        return int(block), int(slot)

    def add_centre(self, block: int, slot: int) -> float:
        """Update every min-distance that the new centre can lower, skipping provably safe blocks.

        Returns the fraction of blocks that had to be updated (1.0 after `use_dense`).
        """
        centre = self.points[block, slot]
        centre_sq = self.sq[block, slot]
        if self.dense:
            return self._add_centre_dense(centre, centre_sq)
        lower = (torch.linalg.vector_norm(self.centres - centre, dim=1) - self.radius).clamp_(min=0.0)
        limit = self.block_max.sqrt().mul_(1.0 + _PRUNE_SLACK).add_(1e-12)
        active = torch.nonzero(lower <= limit).flatten()
        if len(active) == 0:
            return 0.0
        points = self.points.index_select(0, active)  # (k, capacity, d)
        dist = torch.matmul(points, centre).mul_(-2.0).add_(self.sq.index_select(0, active)).add_(centre_sq).clamp_(min=0.0)
        updated = torch.minimum(self.min_dist.index_select(0, active), dist)
        self.min_dist.index_copy_(0, active, updated)
        self.block_max.index_copy_(0, active, updated.amax(1))
        return len(active) / len(self.block_max)

    def use_dense(self) -> None:
        """Stop pruning: in high dimensions the bound rarely skips a block, and then gathering the
        active blocks costs more than one contiguous matrix-vector product over every point."""
        self.dense = True

    def _add_centre_dense(self, centre: torch.Tensor, centre_sq: torch.Tensor) -> float:
        flat = self.points.view(-1, self.points.shape[-1])
        # padding slots have sq = inf, so their distance is inf and their min-distance stays 0
        dist = torch.mv(flat, centre).mul_(-2.0).add_(self.sq.view(-1)).add_(centre_sq).clamp_(min=0.0)
        torch.minimum(self.min_dist.view(-1), dist, out=self.min_dist.view(-1))
        torch.amax(self.min_dist, dim=1, out=self.block_max)
        return 1.0

    def farthest(self) -> tuple[int, int]:
        """(block, slot) with the largest min-distance."""
        block = int(torch.argmax(self.block_max))
        return block, int(torch.argmax(self.min_dist[block]))


def greedy_coreset(features: np.ndarray, n_select: int, projection_dim: int = DEFAULT_PROJECTION_DIM,
                   seed: int = 0, device: torch.device | str = "cpu", block_size: int = DEFAULT_BLOCK_SIZE,
                   reporter: Optional[Reporter] = None, stage: str = "fit") -> np.ndarray:
    """Indices (in selection order) of a greedy minimax-facility-location coreset of `features`.

    `features` is (N, D). The first point is drawn at random (seeded); each next one is the point
    farthest from the coreset, measured after a `projection_dim` random projection.
    """
    reporter = as_reporter(reporter)
    n = len(features)
    if not 1 <= n_select <= n:
        raise InspectorError(f"Cannot select {n_select} of {n} points.")
    # torch's global thread count is never changed here: switching it mid-process breaks oneMKL's
    # batched solver for every later fit (PaDiM after PatchCore failed with lu_solve pivot errors).
    return _greedy_coreset(features, n_select, projection_dim, seed, device, block_size, reporter, stage)


def _greedy_coreset(features: np.ndarray, n_select: int, projection_dim: int, seed: int,
                    device: torch.device | str, block_size: int, reporter: Reporter, stage: str) -> np.ndarray:
    n = len(features)
    points = random_projection(features, projection_dim, seed, device)
    start = int(np.random.default_rng(seed).integers(n))
    if n_select == 1:
        return np.asarray([start], dtype=np.int64)
    blocks = _BlockedPoints(points, _make_blocks(points, block_size, seed), block_size)
    del points
    block, slot = blocks.slot_of(start)
    chosen = np.empty((n_select, 2), dtype=np.int64)
    chosen[0] = block, slot
    report_every = max(1, n_select // 50)
    active_sum = 0.0
    for i in range(1, n_select):
        active = blocks.add_centre(block, slot)
        if _DENSE_PROBE < i <= 2 * _DENSE_PROBE:  # judged after a warm-up (early bounds are loose)
            active_sum += active
            if i == 2 * _DENSE_PROBE and active_sum / _DENSE_PROBE > _DENSE_ACTIVE_FRACTION:
                blocks.use_dense()
        block, slot = blocks.farthest()
        chosen[i] = block, slot
        if i % report_every == 0:
            reporter.report(stage, i, n_select, f"Coreset: {i} of {n_select} patches selected")
        elif i % 64 == 0:
            reporter.check()
    rows = blocks.rows.cpu().numpy()
    return rows[chosen[:, 0], chosen[:, 1]].astype(np.int64)


def chunk_budgets(sizes: np.ndarray, n_select: int) -> np.ndarray:
    """Picks per chunk, proportional to its size (largest remainders), at least one, at most its size."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if not len(sizes) <= n_select <= int(sizes.sum()):
        raise InspectorError(f"Cannot select {n_select} points from {len(sizes)} chunks of {int(sizes.sum())}.")
    quota = n_select * sizes / sizes.sum()
    budgets = np.clip(np.floor(quota).astype(np.int64), 1, sizes)
    while budgets.sum() < n_select:  # hand the rest out by largest remainder, where room is left
        room = budgets < sizes
        budgets[np.flatnonzero(room)[np.argmax((quota - budgets)[room])]] += 1
    while budgets.sum() > n_select:  # the minimum of one may overshoot with many tiny quotas
        budgets[np.argmax(budgets - quota)] -= 1
    return budgets


def _dense_greedy(points: np.ndarray, n_select: int, stop: threading.Event) -> np.ndarray:
    """Plain greedy on one in-cache chunk, starting from its first row (the chunks are shuffled).

    numpy's einsum loop, not BLAS: a multi-threaded BLAS matrix-vector product per pick spins its
    threads against the other workers (34 s instead of 1 s for 20k picks over 627k points on 2
    loaded cores); einsum stays on the worker's own thread and releases the GIL.
    """
    sq = np.einsum("ij,ij->i", points, points)
    min_dist = np.full(len(points), np.inf, dtype=np.float32)
    dist = np.empty(len(points), dtype=np.float32)
    picks = np.empty(n_select, dtype=np.int64)
    index = 0
    for i in range(n_select):
        picks[i] = index
        if i + 1 == n_select or (i % 64 == 63 and stop.is_set()):
            break
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2 (rounding below 0 is harmless: only the max matters)
        np.einsum("ij,j->i", points, -2.0 * points[index], out=dist)
        dist += sq
        dist += sq[index]
        np.minimum(min_dist, dist, out=min_dist)
        index = int(np.argmax(min_dist))
    return picks


def chunked_greedy_coreset(features: np.ndarray, n_select: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
                           projection_dim: int = DEFAULT_PROJECTION_DIM, seed: int = 0,
                           workers: Optional[int] = None,
                           reporter: Optional[Reporter] = None, stage: str = "fit") -> np.ndarray:
    """Indices (chunk by chunk, in selection order inside each) of a greedy coreset computed in
    random chunks of about `chunk_size` points, `workers` threads at a time (default: one per CPU).

    Inputs of at most `chunk_size` points get the exact `greedy_coreset`. Runs on the CPU (the
    per-chunk work is small and latency-bound). Progress is reported and cancellation checked on
    the calling thread only (reporters may drive a GUI).
    """
    reporter = as_reporter(reporter)
    n = len(features)
    if not 1 <= n_select <= n:
        raise InspectorError(f"Cannot select {n_select} of {n} points.")
    if chunk_size < 1:
        raise InspectorError(f"The coreset chunk size must be at least 1, got {chunk_size}.")
    n_chunks = min(-(-n // int(chunk_size)), n_select)
    if n_chunks <= 1:
        return greedy_coreset(features, n_select, projection_dim, seed, reporter=reporter, stage=stage)
    points = random_projection(features, projection_dim, seed, "cpu").numpy()
    chunks = np.array_split(np.random.default_rng(seed).permutation(n), n_chunks)
    budgets = chunk_budgets(np.array([len(c) for c in chunks]), n_select)
    stop = threading.Event()

    def run(chunk: np.ndarray, budget: int) -> np.ndarray:
        local = points[chunk]  # contiguous copy, in cache
        return chunk[_dense_greedy(local, int(budget), stop)]

    workers = max(1, min(int(workers or os.cpu_count() or 1), n_chunks))
    results: dict = {}
    reporter.report(stage, 0, n_select, f"Coreset: {n_chunks} chunks of about {n // n_chunks} patches")
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coreset") as pool:
        futures = {pool.submit(run, c, b): i for i, (c, b) in enumerate(zip(chunks, budgets))}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                if not done:
                    reporter.check()
                    continue
                for future in done:
                    results[futures[future]] = future.result()
                picked = int(sum(budgets[i] for i in results))
                reporter.report(stage, picked, n_select, f"Coreset: {picked} of {n_select} patches selected "
                                f"({len(results)} of {n_chunks} chunks)")
        except BaseException:
            stop.set()  # running chunks stop within 64 picks; the pool's exit waits for them
            for future in pending:
                future.cancel()  # chunks not started yet never start
            raise
    return np.concatenate([results[i] for i in range(n_chunks)]).astype(np.int64)
