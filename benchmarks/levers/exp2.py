"""Issue 11 lever experiments on cached features (see docs/benchmarks/kolektorsdd-resolution.md)."""
import json
import os
import sys
import time

import numpy as np

from inspector.detectors.registry import create_detector
from inspector.evaluation.metrics import au_pro, image_auroc, pixel_auroc
from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.preprocess import choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.types import Reporter

data, short = sys.argv[1], int(sys.argv[2])
cat = load_category(data)
geom = choose_geometry([image_file_shape(s.path) for s in cat.train], short)
enc = FeatureEncoder(cat, FeatureConfig(image_size=short, geometry=geom), (2,3,4,5,6), FeatureCache(os.environ.get("LEVERS_CACHE", "/tmp/kol/cache")), "cpu", Reporter())
tr, te = enc.encode("train", cat.train), enc.encode("test", cat.test)
labels = np.asarray(cat.test_labels)
masks = np.stack([s.load_mask(geom) for s in cat.test])
for spec in sys.argv[3:]:
    name, _, kw = spec.partition(":")
    kwargs = json.loads(kw) if kw else {}
    if "layers" in kwargs: kwargs["layers"] = tuple(kwargs["layers"])
    t = time.perf_counter(); det = create_detector(name, **kwargs).fit(tr); fs = time.perf_counter() - t
    res = det.score(te); s = res.image_scores; good = s[labels == 0]
    th = np.quantile(good, 0.97, method="higher")
    out = {"short": short, "spec": spec, "auroc": round(image_auroc(labels, s), 4), "oracle_recall@3%": round(float(np.mean(s[labels == 1] > th)), 3), "fit_s": round(fs, 1)}
    if res.maps is not None:
        out["pixel_auroc"] = round(pixel_auroc(masks, res.maps), 4); out["au_pro"] = round(au_pro(masks, res.maps, 0.3), 4)
    print(json.dumps(out), flush=True)
