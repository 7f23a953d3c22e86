"""Write a protocol's feature cache for a subset of stages from a cache that holds more stages.

The backbone computes every stage in one forward pass, so the features of stages (3, 5, 6) are exactly
those stages of an encoding of (2, 3, 4, 5, 6): this saves re-encoding a data set on a loaded machine.

    python benchmarks/derive_feature_cache.py ../shared/data/kolektorsdd /tmp/pollution/cache 2,3,4,5,6 \
        /tmp/pollution/cache356 3,5,6
"""
import sys

from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.maps import FeatureMaps
from inspector.features.preprocess import DEFAULT_SHORT_SIDE, choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.types import InspectorError

data, source, have, target, want = sys.argv[1:6]
have_layers = tuple(int(v) for v in have.split(","))
want_layers = tuple(int(v) for v in want.split(","))
category = load_category(data)
geometry = choose_geometry([image_file_shape(s.path) for s in category.train], DEFAULT_SHORT_SIDE)
config = FeatureConfig(image_size=DEFAULT_SHORT_SIDE, geometry=geometry)
full = FeatureEncoder(category, config, have_layers, FeatureCache(source))
part = FeatureEncoder(category, config, want_layers, FeatureCache(target))
for name, samples in (("train", category.train), ("test", category.test)):
    def refuse() -> FeatureMaps:
        raise InspectorError(f"{source} holds no {name} features for stages {have_layers}: encode them first.")

    maps = FeatureCache(source).get_or_compute(name, full._key(samples), refuse)
    part.cache.get_or_compute(name, part._key(samples), lambda: FeatureMaps({k: maps.levels[k] for k in want_layers},
                                                                            maps.input_size))
    print(name, len(maps), "->", target, want_layers)
