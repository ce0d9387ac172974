"""README.md's Python blocks run as written, in order, in one namespace (as a reader pastes
them into one session)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_python_blocks_and_the_first_defines_the_data() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 6
    first = blocks[0]
    for name in ("batches", "groups", "embeddings", "p_cal", "y_cal", "train_emb", "stream_scores"):
        assert re.search(rf"^{name}\b|, {name}\b|^\S.*\b{name}\b.*=", first, flags=re.M), name


def test_readme_python_blocks_run_in_order() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict[str, object] = {"__name__": "readme"}
    for i, block in enumerate(python_blocks()):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"README.md python block {i + 1} fails: {type(exc).__name__}: {exc}") from exc
        finally:
            plt.close("all")
    import calipers

    # the blocks computed what they say: a merge of the batches and (p, y), a calibrator, an SDM fit
    total, sketch = namespace["total"], namespace["sketch"]
    assert isinstance(total, calipers.ReliabilitySketch) and total.count == sketch.count + 5 == 1005
    assert isinstance(calipers.Calibrator.from_json(namespace["blob"]), calipers.IsotonicCalibration)
    assert len(namespace["trusted"]) == 20  # type: ignore[arg-type]
