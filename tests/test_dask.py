"""Dask: sketches per partition merged in a tree equal the single-process bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import calipers
from calipers import ReliabilitySketch

dask = pytest.importorskip("dask", reason="dask is a test dependency")
distributed = pytest.importorskip("distributed")
from calipers import dask as cdask  # noqa: E402

# distributed's own sockets and port notices are not calipers' warnings
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    p = rng.random(200_000)
    return p, (rng.random(p.size) < p**1.4).astype(np.int64)


def test_array_blocks(client, data):  # type: ignore[no-untyped-def]
    import dask.array as da

    p, y = data
    got = cdask.sketch_from_array(da.from_array(p, chunks=17_000), da.from_array(y, chunks=23_000), split_every=3)
    assert got.to_bytes() == ReliabilitySketch(15).update(p, y).to_bytes()


def test_dataframe_partitions_and_probability_columns(client, cifar):  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    P, y = cifar
    cols = [f"p{k}" for k in range(10)]
    frame = pd.DataFrame(P, columns=cols).assign(label=y)
    ddf = dd.from_pandas(frame, npartitions=7)
    top = cdask.sketch_from_dataframe(ddf, score=cols, label="label")
    assert top.to_bytes() == ReliabilitySketch(15).update(P, y).to_bytes()
    marginal = cdask.sketch_from_dataframe(ddf, score=cols, label="label", classes=10, bins=10)
    assert marginal.to_bytes() == ReliabilitySketch(10, classes=10).update(P, y).to_bytes()


def test_bag_of_records(client, data):  # type: ignore[no-untyped-def]
    import dask.bag as db

    p, y = data
    records = [{"score": float(a), "label": int(b)} for a, b in zip(p[:20_000], y[:20_000])]
    got = cdask.sketch_from_bag(db.from_sequence(records, npartitions=5))
    assert got.to_bytes() == ReliabilitySketch(15).update(p[:20_000], y[:20_000]).to_bytes()


def test_cli_dask_local_equals_single_process(tmp_path, data, capsys):  # type: ignore[no-untyped-def]
    from calipers.cli import main

    p, y = data
    paths = []
    for k, idx in enumerate(np.array_split(np.arange(30_000), 4)):
        path = tmp_path / f"part{k}.jsonl"
        with open(path, "w") as fh:
            for i, a, b in zip(idx, p[idx], y[idx]):
                fh.write(
                    json.dumps(
                        {"score": float(a), "label": int(b), "model": "abc"[i % 3], "ts": 1_700_000_000 + 2 * int(i)}
                    )
                    + "\n"
                )
            fh.write('{"score": "bad", "label": 1, "model": "a", "ts": 0}\n')
        paths.append(str(path))
    single, spread = tmp_path / "single.bin", tmp_path / "spread.bin"
    assert main(["score", *paths, "--json", "--save-sketch", str(single)]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["score", *paths, "--json", "--save-sketch", str(spread), "--dask", "local:2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert spread.read_bytes() == single.read_bytes()
    assert two["rows"] == one["rows"] == 30_000
    assert two["skipped"] == one["skipped"] == {"non-numeric 'score'": 4}
    assert two["skipped_first"] == one["skipped_first"]
    assert two["metrics"] == one["metrics"]
    assert calipers.ece(p[:30_000], y[:30_000]) == pytest.approx(two["metrics"]["ece"], rel=1e-12)

    # groups and windows too: the same sketches per key, whichever process read which file
    keyed = ["--by", "model", "--time", "ts", "--window", "1h"]
    assert main(["score", *paths, "--json", *keyed]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["score", *paths, "--json", *keyed, "--dask", "local:2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert two == one
    assert set(two["groups"]) == {"a", "b", "c"} and len(two["windows"]) == 17
    assert sum(g["rows"] for g in two["groups"].values()) == 30_000


def test_tree_merge_arguments():
    with pytest.raises(ValueError, match="split_every"):
        cdask.tree_merge([1, 2], split_every=1)
    with pytest.raises(ValueError, match="no partitions"):
        cdask.tree_merge([])
