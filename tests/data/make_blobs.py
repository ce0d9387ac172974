"""Write the format-version-1 blobs the serialization tests load. Run once per format
version; never overwrite the blobs of a released version."""

import json
from pathlib import Path

import numpy as np

from calipers import ReliabilitySketch

here = Path(__file__).parent
rng = np.random.default_rng(20261126)
p = rng.random(500)
sketches = {
    "binary": ReliabilitySketch(12).update(p, (rng.random(500) < p).astype(int)),
    "marginal": ReliabilitySketch(12, classes=4).update(rng.dirichlet(np.ones(4), 400), rng.integers(0, 4, 400)),
    "top-label": ReliabilitySketch(8).update(rng.dirichlet(np.ones(3), 50), rng.integers(0, 3, 50)),
    "empty": ReliabilitySketch(3),
}
if __name__ == "__main__":
    expected = {}
    for name, s in sketches.items():
        (here / f"reliability_sketch_v1_{name}.bin").write_bytes(s.to_bytes())
        metrics = dict(s.metrics()) if s.count else {}
        expected[name] = {"count": s.count, "kind": s.kind, "metrics": metrics}
    (here / "reliability_sketch_v1.json").write_text(json.dumps(expected, indent=2) + "\n")
