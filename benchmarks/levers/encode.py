"""Cache KolektorSDD / bottle features at a geometry for offline experiments."""
import os
import sys
import time

from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.preprocess import choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.types import Reporter

data, short, layers = sys.argv[1], int(sys.argv[2]), tuple(int(v) for v in sys.argv[3].split(","))
cat = load_category(data)
geom = choose_geometry([image_file_shape(s.path) for s in cat.train], short)
cfg = FeatureConfig(backbone=os.environ.get("LEVERS_BACKBONE", "efficientnet_lite0"), image_size=short, geometry=geom)
print(data, geom, flush=True)
enc = FeatureEncoder(cat, cfg, layers, FeatureCache(os.environ.get("LEVERS_CACHE", "/tmp/kol/cache")), "cpu", Reporter())
t = time.perf_counter(); tr = enc.encode("train", cat.train); t1 = time.perf_counter()
te = enc.encode("test", cat.test); t2 = time.perf_counter()
print("train", t1 - t, "test", t2 - t1, {k: v.shape for k, v in tr.levels.items()}, flush=True)
