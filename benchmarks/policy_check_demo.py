"""Policy check on the bundled demo (flange, 24 training images): how far PaDiM sees each policy's copies.

    PYTHONPATH=$PWD python benchmarks/policy_check_demo.py > docs/benchmarks/policy_check_demo.txt

Fits PaDiM (defaults) on the demo's training images, then scores 16 copies (2 per image of 8
images, as the fit would make them) of each policy with `inspector.augment.policy_check` and
prints the median score and the one-line summary against the calibrated FAIL.
"""
import glob

import numpy as np

from inspector.augment.policy import PRESETS, AugmentationPolicy, Range, Translate
from inspector.augment.policy_check import check_policy
from inspector.io.images import load_image
from inspector.pipeline import FitSettings, fit_model
from inspector.resources import demo_dir

paths = sorted(glob.glob(str(demo_dir() / "train" / "good" / "*")))
images = [load_image(p) for p in paths]
print("shape", images[0].shape)
fit = fit_model(images, FitSettings(detector="padim"))
model = fit.model
score = lambda b: [None if p.verdict == "ERROR" else p.score for p in model.predict(b)]
ws = tuple(model.feature_config.input_shape)
print("working", ws, "fail", model.threshold.fail)
for name, pol in [("brightness±2", AugmentationPolicy(add=Range(-2, 2))),
                  ("shift±2", AugmentationPolicy(translate=Translate(2, 2))),
                  ("shift±10 edge", AugmentationPolicy(translate=Translate(10, 10), border="edge")),
                  ("rotate±5", AugmentationPolicy(rotate=Range(-5, 5))),
                  ("object", PRESETS["object"])]:
    c = check_policy(images, pol, score, model.threshold.fail, model.threshold.review, factor=2, n_copies=16, working_size=ws)
    print(f"{name:16s} median {np.median(c.copy_scores):7.2f}  {c.summary()}")
