"""PaDiM variants on cached features: layers x image score x working point; CV vs test good scores."""
import json
import os
import sys
import time

import numpy as np

from inspector.detectors.padim import PaDiMDetector
from inspector.evaluation.metrics import au_pro, image_auroc, pixel_auroc
from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.preprocess import choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.types import Reporter

data, short = sys.argv[1], int(sys.argv[2])
layer_sets = [tuple(int(v) for v in s.split(",")) for s in sys.argv[3].split("/")]
all_layers = (2, 3, 4, 5, 6)
cat = load_category(data)
geom = choose_geometry([image_file_shape(s.path) for s in cat.train], short)
cfg = FeatureConfig(backbone=os.environ.get("LEVERS_BACKBONE", "efficientnet_lite0"), image_size=short, geometry=geom)
enc = FeatureEncoder(cat, cfg, all_layers, FeatureCache(os.environ.get("LEVERS_CACHE", "/tmp/kol/cache")), "cpu", Reporter())
tr, te = enc.encode("train", cat.train), enc.encode("test", cat.test)
labels = np.asarray(cat.test_labels)
masks = np.stack([s.load_mask(geom) for s in cat.test])

def image_scores(maps):
    flat = maps.reshape(len(maps), -1)
    out = {"max": flat.max(1)}
    srt = np.sort(flat, axis=1)[:, ::-1]
    for frac in (0.001, 0.01):
        k = max(1, int(frac * flat.shape[1])); out[f"top{frac:g}"] = srt[:, :k].mean(1)
    return out

def rates(th, s):
    return float(np.mean(s[labels == 0] >= th)), float(np.mean(s[labels == 1] >= th))

do_cv = len(sys.argv) < 5 or sys.argv[4] != "nocv"
for layers in layer_sets:
    t0 = time.perf_counter()
    det = PaDiMDetector(layers=layers).fit(tr)
    fit_s = time.perf_counter() - t0
    res = det.score(te)
    test_maps = res.maps
    # 5-fold CV scores of train good
    rng = np.random.default_rng(0); n = len(tr); fold_of = rng.permutation(np.arange(n) % 5)
    cv_maps = np.zeros((n,) + tuple(geom), np.float32)
    for f in (range(5) if do_cv else []):
        d = PaDiMDetector(layers=layers).fit(tr.subset(np.flatnonzero(fold_of != f)))
        held = np.flatnonzero(fold_of == f)
        cv_maps[held] = d.score(tr.subset(held)).maps
    ts, cs = image_scores(test_maps), image_scores(cv_maps)
    row = {"short": short, "geom": list(geom), "layers": list(layers), "fit_s": fit_s,
           "pixel_auroc": pixel_auroc(masks, test_maps), "au_pro": au_pro(masks, test_maps, 0.3)}
    for name in ts:
        s, c = ts[name], cs[name]
        good = s[labels == 0]
        r = {"auroc": image_auroc(labels, s)}
        # oracle: recall at FRR <= 3% on test (ranking limit)
        th_or = np.quantile(good, 0.97, method="higher")
        r["oracle_recall@3%"] = float(np.mean(s[labels == 1] > th_or))
        for wp, th in (("m3s", c.mean() + 3 * c.std(ddof=1)), ("q99", np.quantile(c, 0.99)), ("max", c.max())):
            r[wp] = (round(float(th), 3),) + tuple(round(v, 3) for v in rates(th, s))
        r["cv_good_mean_sd"] = [float(c.mean()), float(c.std())]; r["test_good_mean_sd"] = [float(good.mean()), float(good.std())]
        r["test_defect_median"] = float(np.median(s[labels == 1]))
        row[name] = r
    print(json.dumps(row), flush=True)
    np.savez(os.environ.get("LEVERS_CACHE", "/tmp/kol/cache") + f"/padim_{short}_{'-'.join(map(str, layers))}.npz", test=np.stack([ts[k] for k in ts]), cv=np.stack([cs[k] for k in cs]))
