"""A GUI fit and an inspection may share one extractor from two threads (issue 10.2)."""
import threading

import numpy as np

from inspector.features.extractor import FeatureConfig, FeatureExtractor


def test_concurrent_extractions_match_sequential():
    extractor = FeatureExtractor(FeatureConfig(image_size=64), device="cpu", batch_size=1)
    rng = np.random.default_rng(1)
    first = [rng.integers(0, 255, (80, 90, 3), dtype=np.uint8) for _ in range(4)]
    second = [rng.integers(0, 255, (70, 60, 3), dtype=np.uint8) for _ in range(4)]
    expected = [extractor.extract(first, (2, 3)), extractor.extract(second, (2, 3))]
    results: dict[int, object] = {}

    def run(slot: int, images) -> None:
        results[slot] = extractor.extract(images, (2, 3))

    threads = [threading.Thread(target=run, args=(0, first)), threading.Thread(target=run, args=(1, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for slot in (0, 1):
        for layer in (2, 3):
            assert np.array_equal(results[slot].levels[layer], expected[slot].levels[layer])
