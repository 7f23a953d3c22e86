"""PaDiM variants on cached features: neighbourhood-pooled Gaussians, channel count (issue 11 levers)."""
import json, os, sys, time
import numpy as np, torch, torch.nn.functional as F
from inspector.detectors.gaussian import fit_gaussians, mahalanobis_distances
from inspector.detectors.padim import aligned_embedding
from inspector.detectors.anomaly_maps import upsample_and_smooth
from inspector.evaluation.metrics import au_pro, image_auroc, pixel_auroc
from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.preprocess import choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.types import Reporter

data, short = sys.argv[1], int(sys.argv[2])
cat = load_category(data)
geom = choose_geometry([image_file_shape(s.path) for s in cat.train], short)
enc = FeatureEncoder(cat, FeatureConfig(backbone=os.environ.get("LEVERS_BACKBONE", "efficientnet_lite0"), image_size=short, geometry=geom), (2,3,4,5,6), FeatureCache(os.environ.get("LEVERS_CACHE", "/tmp/kol/cache")), "cpu", Reporter())
tr, te = enc.encode("train", cat.train), enc.encode("test", cat.test)
labels = np.asarray(cat.test_labels)
masks = np.stack([s.load_mask(geom) for s in cat.test])

def neighbourhood(emb, r):
    """(N, d, h, w) -> (L, N*k*k, d) samples pooled over a (2r+1)^2 window (replicate padding)."""
    n, d, h, w = emb.shape
    if r == 0:
        return emb.reshape(n, d, h * w).transpose(2, 0, 1)
    t = F.pad(torch.from_numpy(emb), (r, r, r, r), mode="replicate")
    k = 2 * r + 1
    cols = F.unfold(t, kernel_size=k)  # (n, d*k*k, h*w)
    return cols.reshape(n, d, k * k, h * w).permute(3, 0, 2, 1).reshape(h * w, n * k * k, d).numpy()

def run(layers, nfeat, r, train_idx=None, seed=0):
    emb_tr = aligned_embedding(tr.select(layers)); emb_te = aligned_embedding(te.select(layers))
    if train_idx is not None: emb_tr = emb_tr[train_idx]
    C = emb_tr.shape[1]; rng = np.random.default_rng(seed)
    ch = np.sort(rng.choice(C, size=min(nfeat, C), replace=False))
    emb_tr = np.ascontiguousarray(emb_tr[:, ch]); emb_te = np.ascontiguousarray(emb_te[:, ch])
    n, d, h, w = emb_tr.shape
    means, precs = [], []
    L = h * w; step = 64
    for s in range(0, L, step):
        # chunk over locations to bound memory
        samp = neighbourhood(emb_tr, r)[s:s + step] if r == 0 else None
        if samp is None:
            full = neighbourhood(emb_tr, r) if s == 0 else full
            samp = full[s:s + step]
        m, p = fit_gaussians(samp, "ledoit"); means.append(m); precs.append(p)
    means = np.concatenate(means); precs = np.concatenate(precs)
    loc = emb_te.reshape(len(emb_te), d, L).transpose(0, 2, 1)
    dist = mahalanobis_distances(loc, means, precs).reshape(len(emb_te), h, w).astype(np.float32)
    maps = upsample_and_smooth(dist, te.input_size, 4.0)
    return maps.reshape(len(maps), -1).max(axis=1), maps

for spec in sys.argv[3:]:
    kw = json.loads(spec)
    t = time.perf_counter()
    draws = kw.get("draws")
    if draws:  # low-data: mean AUROC over draws of n images
        aucs = []
        for dr in range(draws):
            idx = np.sort(np.random.default_rng(dr).choice(len(cat.train), size=kw["n"], replace=False))
            s, _ = run(tuple(kw["layers"]), kw["d"], kw["r"], idx)
            aucs.append(image_auroc(labels, s))
        print(json.dumps({**kw, "aurocs": [round(a, 4) for a in aucs], "mean": round(float(np.mean(aucs)), 4), "s": round(time.perf_counter() - t, 1)}), flush=True)
        continue
    s, maps = run(tuple(kw["layers"]), kw["d"], kw["r"])
    good = s[labels == 0]; th = np.quantile(good, 0.97, method="higher")
    out = {**kw, "auroc": round(image_auroc(labels, s), 4), "oracle_recall@3%": round(float(np.mean(s[labels == 1] > th)), 3),
           "pixel_auroc": round(pixel_auroc(masks, maps), 4), "au_pro": round(au_pro(masks, maps, 0.3), 4), "s": round(time.perf_counter() - t, 1)}
    print(json.dumps(out), flush=True)
