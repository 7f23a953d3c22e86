"""Positional patch k-NN on cached features (issue 11 levers).

Each test location (i, j) is scored by its L2 distance to the k nearest training patches taken only
from training locations within |di|, |dj| <= r. r = 0 is a nonparametric per-location model (PaDiM
without the Gaussian, so multimodal); a large r tends to location-free PatchCore. The window is
swept ring by ring, so one pass yields every r <= max(radii) and every k <= max(ks).

Usage: exp_posknn.py DATA SHORT SPEC... with SPEC a JSON object:
  {"feat": "a", "layers": [3,5,6], "d": 200}   stages aligned as PaDiM (nearest upsampling), d random channels (0 = all)
  {"feat": "b", "layers": [2,3], "fd": null}   PatchCore-style 3x3 averaged patch features at the finest stride
  optional "norm": "chan" (z-score each channel with the training images' global mean / sd) or "loc"
  (z-score each channel at each location: a diagonal-covariance whitening, as PaDiM's Mahalanobis does in full);
  optional "radii": [0,1,2,4], "ks": [1,3]; low data: "n": 10, "draws": 3 (image AUROC only).
"""
import json, os, sys, time
import numpy as np, torch
from inspector.detectors.padim import aligned_embedding
from inspector.detectors.patch_features import patch_features_torch
from inspector.detectors.anomaly_maps import upsample_and_smooth
from inspector.evaluation.metrics import au_pro, image_auroc, pixel_auroc
from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.preprocess import choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.types import Reporter

data, short = sys.argv[1], int(sys.argv[2])
backbone = os.environ.get("LEVERS_BACKBONE", "efficientnet_lite0")
cat = load_category(data)
geom = choose_geometry([image_file_shape(s.path) for s in cat.train], short)
enc = FeatureEncoder(cat, FeatureConfig(backbone=backbone, image_size=short, geometry=geom), (2,3,4,5,6), FeatureCache(os.environ.get("LEVERS_CACHE", "/tmp/kol/cache")), "cpu", Reporter())
tr, te = enc.encode("train", cat.train), enc.encode("test", cat.test)
labels = np.asarray(cat.test_labels)
masks = np.stack([s.load_mask(geom) for s in cat.test])


def embed(fm, kw, seed=0):
    """(N, D, h, w) float32 tensor of the requested feature variant (same channel draw for train and test)."""
    levels = fm.select(tuple(kw["layers"]))
    if kw["feat"] == "a":
        emb = torch.from_numpy(aligned_embedding(levels))
        d = kw.get("d", 200)
        if d and d < emb.shape[1]:
            ch = np.sort(np.random.default_rng(seed).choice(emb.shape[1], size=d, replace=False))
            emb = emb[:, torch.from_numpy(ch)]
        return emb.contiguous()
    out = [patch_features_torch([torch.from_numpy(np.ascontiguousarray(l[s:s + 32])) for l in levels], kw.get("fd"))
           for s in range(0, len(fm), 32)]
    return torch.cat(out).permute(0, 3, 1, 2).contiguous()


def normalise(emb_tr, emb_te, how):
    """Put channels on comparable scales (raw L2 is dominated by high-variance deep channels)."""
    if not how:
        return emb_tr, emb_te
    dims = (0, 2, 3) if how == "chan" else (0,)
    mean, sd = emb_tr.mean(dim=dims, keepdim=True), emb_tr.std(dim=dims, keepdim=True) + 1e-3
    return ((emb_tr - mean) / sd).contiguous(), ((emb_te - mean) / sd).contiguous()


def posknn(emb_tr, emb_te, radii, kmax, loc_chunk=128):
    """{r: (Nte, kmax, h, w) sorted k smallest distances to train patches within the r-window}."""
    n_tr, d, h, w = emb_tr.shape
    n_te = emb_te.shape[0]
    rmax = max(radii)
    best = torch.full((h, w, n_te, kmax), float("inf"))
    out = {}
    # per-location (h, w, N, d) layouts
    A = emb_te.permute(2, 3, 0, 1).contiguous()
    B = emb_tr.permute(2, 3, 0, 1).contiguous()
    for m in range(rmax + 1):
        ring = [(di, dj) for di in range(-m, m + 1) for dj in range(-m, m + 1) if max(abs(di), abs(dj)) == m]
        for di, dj in ring:
            i0, i1 = max(0, -di), min(h, h - di)
            j0, j1 = max(0, -dj), min(w, w - dj)
            if i0 >= i1 or j0 >= j1:
                continue
            a = A[i0:i1, j0:j1].reshape(-1, n_te, d)
            b = B[i0 + di:i1 + di, j0 + dj:j1 + dj].reshape(-1, n_tr, d)
            cur = best[i0:i1, j0:j1].reshape(-1, n_te, kmax)
            new = torch.empty_like(cur)
            for s in range(0, a.shape[0], loc_chunk):
                dist = torch.cdist(a[s:s + loc_chunk], b[s:s + loc_chunk], compute_mode="use_mm_for_euclid_dist")
                both = torch.cat([cur[s:s + loc_chunk], dist], dim=2)
                new[s:s + loc_chunk] = torch.topk(both, kmax, dim=2, largest=False, sorted=True).values
            best[i0:i1, j0:j1] = new.reshape(i1 - i0, j1 - j0, n_te, kmax)
        if m in radii:
            out[m] = best.permute(2, 3, 0, 1).clone()
    return out


def scores(dist_map, input_size):
    maps = upsample_and_smooth(dist_map, input_size, 4.0)
    flat = maps.reshape(len(maps), -1)
    top = max(1, int(round(0.01 * flat.shape[1])))
    return flat.max(axis=1), np.partition(flat, -top, axis=1)[:, -top:].mean(axis=1), maps


def recall_at3(s):
    th = np.quantile(s[labels == 0], 0.97, method="higher")
    return round(float(np.mean(s[labels == 1] > th)), 3)


for spec in sys.argv[3:]:
    kw = json.loads(spec)
    radii, ks = kw.get("radii", [0, 1, 2, 4]), kw.get("ks", [1, 3])
    base = {"data": os.path.basename(data.rstrip("/")), "backbone": backbone, **kw}
    t = time.perf_counter()
    emb_tr, emb_te = embed(tr, kw), embed(te, kw)
    grid = list(emb_tr.shape[2:])
    if kw.get("draws"):
        aucs = {(r, k): [] for r in radii for k in ks}
        for dr in range(kw["draws"]):
            idx = np.sort(np.random.default_rng(dr).choice(len(emb_tr), size=kw["n"], replace=False))
            res = posknn(*normalise(emb_tr[torch.from_numpy(idx)].contiguous(), emb_te, kw.get("norm")), radii, max(ks))
            for r in radii:
                for k in ks:
                    aucs[(r, k)].append(image_auroc(labels, scores(res[r][:, :k].mean(dim=1).numpy(), te.input_size)[0]))
        for (r, k), a in aucs.items():
            print(json.dumps({**base, "r": r, "k": k, "aurocs": [round(x, 4) for x in a], "mean": round(float(np.mean(a)), 4),
                              "s": round(time.perf_counter() - t, 1)}), flush=True)
        continue
    res = posknn(*normalise(emb_tr, emb_te, kw.get("norm")), radii, max(ks))
    knn_s = round(time.perf_counter() - t, 1)
    for r in radii:
        for k in ks:
            # score = mean distance to the k nearest
            dist = res[r][:, :k].mean(dim=1).numpy()
            smax, stop, maps = scores(dist, te.input_size)
            print(json.dumps({**base, "r": r, "k": k, "grid": grid, "dim": int(emb_tr.shape[1]),
                              "auroc": round(image_auroc(labels, smax), 4), "oracle_recall@3%": recall_at3(smax),
                              "auroc_top1%": round(image_auroc(labels, stop), 4), "oracle_recall@3%_top1%": recall_at3(stop),
                              "pixel_auroc": round(pixel_auroc(masks, maps), 4), "au_pro": round(au_pro(masks, maps, 0.3), 4),
                              "knn_s": knn_s, "s": round(time.perf_counter() - t, 1)}), flush=True)
