"""Hardening round 3: the findings of a second adversarial pass, each written as a user hits
it (public API or CLI), with the exact error, exit code and state after the call."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest

import calipers
from calipers import CalibrationMonitor, GroupedSketch
from calipers.monitor import merging


class Clock:
    """A settable clock for deterministic windows."""

    def __init__(self, t: float = 6000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------- 1: monitor merge without groups


def test_monitor_merge_of_records_without_groups():
    clock = Clock()
    a, b, both = (CalibrationMonitor(window=60.0, clock=clock) for _ in range(3))
    rng = np.random.default_rng(1)
    for i in range(200):
        p, y, t = float(rng.random()), int(rng.random() < 0.5), 5500.0 + rng.random() * 500
        (a if i % 2 else b).record(p, y, t=t)
        both.record(p, y, t=t)
    a.merge(b)
    assert a.snapshot()["count"] == 200
    assert a.to_bytes() == both.to_bytes()
    grouped = CalibrationMonitor(window=60.0, clock=clock)
    grouped.record(0.5, 1, group="g", t=5990.0)
    grouped.merge(b)  # a target with groups, a source without
    assert grouped.records_by_group() == {"g": 1} and grouped.records_total == 101


def test_monitor_merge_is_all_or_nothing(monkeypatch):
    clock = Clock()
    a = CalibrationMonitor(window=60.0, clock=clock, max_groups=2)
    b = CalibrationMonitor(window=60.0, clock=clock)
    a.record(0.2, 0, group="x", t=5890.0)
    a.record(0.4, 1, t=5950.0)
    for g in ("y", "z", "w"):  # one new slot ("w", first in key order), two keys pooled
        b.record(0.6, 1, group=g, t=5900.0)
        b.record(0.7, 0, group=g, t=5990.0)
    before = a.to_bytes()
    calls = []
    real = merging._merge_window

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:  # the second window fails after the first merged
            raise MemoryError("no room")
        real(*args)

    monkeypatch.setattr(merging, "_merge_window", failing)
    with pytest.raises(MemoryError):
        a.merge(b)
    assert len(calls) == 2
    assert a.to_bytes() == before
    assert a.groups == ["x"] and a.dropped()["overflow"] == 0 and a.records_total == 2
    monkeypatch.setattr(merging, "_merge_window", real)
    a.merge(b)
    assert a.groups == ["__other__", "w", "x"] and a.dropped()["overflow"] == 2 and a.records_total == 8


# ---------------------------------------------------------------- 4: GroupedSketch.merge input kinds


def test_grouped_merge_refuses_mixed_input_kinds():
    rng = np.random.default_rng(4)
    one_d = GroupedSketch(grid="compact").update(rng.random(20), rng.integers(0, 2, 20), ["a"] * 20)
    probs = rng.dirichlet(np.ones(3), 20)
    top = GroupedSketch(grid="compact").update(probs, rng.integers(0, 3, 20), ["b"] * 20)
    before = one_d.to_bytes()
    with pytest.raises(ValueError, match=r"^cannot merge grouped sketches holding different kinds of input"):
        one_d.merge(top)
    assert one_d.to_bytes() == before and list(one_d) == ["a"]
    with pytest.raises(ValueError, match="different kinds of input"):
        top + one_d
    # what update refuses, merge refuses: the same pair through update
    with pytest.raises(ValueError, match="another kind of input"):
        one_d.update(probs, rng.integers(0, 3, 20), ["b"] * 20)
    # an empty grouped sketch merges with either kind
    assert list(GroupedSketch(grid="compact").merge(top)) == ["b"]


# ---------------------------------------------------------------- 8 and 9: one group-key rule


def test_monitor_refuses_keys_whose_labels_collide():
    clock = Clock()
    m = CalibrationMonitor(window=60.0, clock=clock)
    m.record(0.9, 1, group=1, t=5990.0)
    before = m.to_bytes()
    message = r"^group '1' would show as '1', as the group 1 does: keys whose labels \(str\) are equal"
    with pytest.raises(ValueError, match=message):
        m.record(0.1, 1, group="1", t=5990.0)
    with pytest.raises(ValueError, match=message):
        m.predicted("k", 0.1, group="1", t=5990.0)
    # record_many: all-or-nothing, a fresh key "z" before the colliding one is not created either
    with pytest.raises(ValueError, match=r"^groups: the key '1' would show as '1', as the group 1 does"):
        m.record_many([0.2, 0.3], [0, 1], groups=["z", "1"], t=5990.0)
    # two new keys with one label in one batch
    with pytest.raises(ValueError, match=r"^groups: the key '2' would show as '2', as the group 2 does"):
        m.record_many([0.2, 0.3], [0, 1], groups=[2, "2"], t=5990.0)
    assert m.to_bytes() == before and m.groups == [1]
    snap = m.snapshot()
    assert snap["count"] == 1
    # merge: a source holding '1' into a target holding 1 changes nothing
    other = CalibrationMonitor(window=60.0, clock=clock)
    other.record(0.4, 0, group="1", t=5990.0)
    other.record(0.4, 0, group="q", t=5990.0)
    with pytest.raises(ValueError, match="would show as '1', as the group 1 does"):
        m.merge(other)
    assert m.to_bytes() == before


@pytest.mark.parametrize("same", [1.0, np.float64(1), np.int64(1), np.int32(1), np.uint8(1)])
def test_monitor_group_rule_does_not_depend_on_state(same):
    fresh, held = CalibrationMonitor(), CalibrationMonitor()
    held.record(0.5, 1, group=1)
    fresh.record(0.5, 1, group=same)
    held.record(0.5, 1, group=same)
    assert fresh.groups == [1] and held.groups == [1] and held.records_by_group() == {1: 2}
    many = CalibrationMonitor()
    many.record_many(np.array([0.5, 0.6]), np.array([1, 0]), groups=np.array([same, same]))
    assert many.groups == [1]


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (True, TypeError, r"^group must be a string or an integer, got a bool \(True\)$"),
        (np.bool_(True), TypeError, r"^group must be a string or an integer, got a bool \(True\)$"),
        (1 + 0j, TypeError, r"^group must be a string or an integer, got a complex \(\(1\+0j\)\)$"),
        (1.5, TypeError, r"^group must be a string or an integer, got the float 1.5 \(not integer-valued\)$"),
        (b"1", TypeError, r"^group must be a string or an integer, got a bytes \(b'1'\)$"),
        (float("nan"), ValueError, r"^group must be a string or an integer: group keys must not be missing"),
        ([1], TypeError, r"^group must be None, a string or an integer, got list$"),
    ],
)
def test_monitor_group_refusals_are_the_same_fresh_or_not(bad, error, message):
    fresh, held = CalibrationMonitor(), CalibrationMonitor()
    held.record(0.5, 1, group=1)
    before = held.to_bytes()
    for m in (fresh, held):
        with pytest.raises(error, match=message):
            m.record(0.5, 1, group=bad)
        with pytest.raises(error, match=message):
            m.predicted("k", 0.5, group=bad)
    assert held.to_bytes() == before and fresh.groups == []


def test_record_many_groups_follow_the_pce_rule():
    p, y = np.array([0.2, 0.7, 0.4, 0.9]), np.array([0, 1, 1, 1])
    floats = np.array([1.0, 2.0, 1.0, 2.0])
    m = CalibrationMonitor()
    m.record_many(p, y, groups=floats)  # integer-valued floats, as pce takes them
    assert m.groups == [1, 2] and m.records_by_group() == {1: 2, 2: 2}
    assert calipers.pce(p, y, floats) == calipers.pce(p, y, np.array([1, 2, 1, 2]))
    with pytest.raises(ValueError, match=r"^groups must be 1-D with one entry per row \(4\), got shape \(4, 1\)$"):
        m.record_many(p, y, groups=np.array([[1], [2], [1], [2]]))
    with pytest.raises(TypeError, match=r"^groups: group keys must be strings or integers: index 2 holds the float"):
        m.record_many(p, y, groups=np.array([1.0, 2.0, 1.5, 2.5]))
    with pytest.raises(TypeError, match=r"index 1 holds a bool \(True\); 2 value\(s\) are not keys$"):
        m.record_many(p, y, groups=[1, True, "a", False])
    for bad in ([1, True, "a", "b"], np.array([1.5, 1, 2, 3])):
        with pytest.raises(TypeError):
            calipers.pce(p, y, bad)
        with pytest.raises(TypeError):
            GroupedSketch(grid="compact").update(p, y, bad)
    assert m.records_by_group() == {1: 2, 2: 2}
    # None rows are "no group" for the monitor, a missing key for pce
    m.record_many(p, y, groups=[None, "a", None, "a"])
    assert m.records_by_group() == {1: 2, 2: 2, "a": 2} and m.records_total == 8
    with pytest.raises(ValueError, match="must not be missing"):
        calipers.pce(p, y, [None, "a", None, "a"])


def test_grouped_sketch_lookup_follows_the_key_rule():
    g = GroupedSketch(grid="compact").update([0.2, 0.7], [0, 1], [1, "a"])
    assert g[1.0] is g[1] and g[np.int64(1)] is g[1] and g[np.str_("a")] is g["a"]
    assert True not in g and 1.0 in g and "1" not in g
    with pytest.raises(TypeError, match=r"^key must be a string or an integer, got a bool \(True\)$"):
        g[True]
    with pytest.raises(KeyError):
        g["1"]


# ---------------------------------------------------------------- 11: masked-array advice


def test_masked_array_advice_works_as_written():
    p = np.ma.masked_array([0.2, 0.7, 0.4, 0.9], [False, True, False, False])
    y = np.array([0, 1, 1, 1])
    groups = np.ma.masked_array(["a", "b", "c", "d"], [False, False, True, False])
    with pytest.raises(ValueError) as info:
        calipers.pce(p.data, y, groups)
    message = str(info.value)
    assert "keep = ~np.ma.getmaskarray(groups), then pass groups.data[keep]" in message
    assert "filled" not in message
    keep = ~np.ma.getmaskarray(groups)  # the advice, followed
    assert calipers.pce(p.data[keep], y[keep], groups.data[keep]) == calipers.pce(
        p.data[[0, 1, 3]], y[[0, 1, 3]], ["a", "b", "d"]
    )
    probs = np.ma.masked_array(np.full((3, 2), 0.5), [[False, False], [False, True], [False, False]])
    with pytest.raises(ValueError, match=r"keep = ~np.ma.getmaskarray\(scores\).any\(axis=1\)"):
        calipers.ece(probs, [0, 1, 1])


# ---------------------------------------------------------------- 5 and 18: saved-run headers


def _run(capsys, *argv):
    from calipers.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _log(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for i in range(n):
            p = float(rng.random())
            row = {"score": p, "label": int(rng.random() < p), "g": "ab"[i % 2], "region": "xyz"[i % 3]}
            row.update({"ts": 1.7e9 + 10.0 * i, "ts2": 1.7e9 + 20.0 * i})
            fh.write(json.dumps(row) + "\n")
    return str(path)


def _header(blob):
    from calipers._common import serde

    payload = serde.unpack_payload(blob, serde.TYPE_SAVED_SCORE)
    (hlen,) = struct.unpack_from("<I", payload)
    return json.loads(payload[4 : 4 + hlen]), payload[4 + hlen :]


def _with_header(text, rest):
    from calipers._common import serde

    raw = text.encode()
    return serde.pack_payload(serde.TYPE_SAVED_SCORE, struct.pack("<I", len(raw)) + raw + rest)


def test_merge_refuses_groups_of_different_columns(tmp_path, capsys):
    log = _log(tmp_path / "a.jsonl")
    by_g, by_region, by_g2 = (str(tmp_path / name) for name in ("g.bin", "region.bin", "g2.bin"))
    assert _run(capsys, "score", log, "--by", "g", "--save-sketch", by_g)[0] == 0
    assert _run(capsys, "score", log, "--by", "region", "--save-sketch", by_region)[0] == 0
    assert _run(capsys, "score", log, "--by", "g", "--save-sketch", by_g2)[0] == 0
    header, _ = _header((tmp_path / "g.bin").read_bytes())
    assert (header["by"], header["time"], header["window"]) == ("g", None, None)
    out = tmp_path / "out.bin"
    code, stdout, err = _run(capsys, "merge", by_g, by_region, "-o", str(out))
    assert (code, stdout) == (2, "")
    assert err == (
        f"calipers merge: cannot merge groups of --by 'g' ({by_g}) and of --by 'region' ({by_region}): "
        "they are keyed by different columns\n"
    )
    assert not out.exists()
    assert _run(capsys, "merge", by_g, by_g2, "-o", str(out))[0] == 0
    assert _header(out.read_bytes())[0]["by"] == "g"  # the merged file keeps the column
    # an old file (no "by" in its header): unknown, merges with either column
    header, rest = _header((tmp_path / "region.bin").read_bytes())
    del header["by"], header["time"]
    old = tmp_path / "old.bin"
    old.write_bytes(_with_header(json.dumps(header), rest))
    assert _run(capsys, "merge", str(old), str(out), "-o", str(tmp_path / "m.bin"))[0] == 0
    assert _header((tmp_path / "m.bin").read_bytes())[0]["by"] == "g"


def test_merge_refuses_windows_of_different_time_columns(tmp_path, capsys):
    log = _log(tmp_path / "a.jsonl")
    ts, ts2 = str(tmp_path / "ts.bin"), str(tmp_path / "ts2.bin")
    assert _run(capsys, "score", log, "--time", "ts", "--window", "1h", "--save-sketch", ts)[0] == 0
    assert _run(capsys, "score", log, "--time", "ts2", "--window", "1h", "--save-sketch", ts2)[0] == 0
    assert _header((tmp_path / "ts.bin").read_bytes())[0]["time"] == "ts"
    code, _, err = _run(capsys, "merge", ts, ts2)
    assert (code, err) == (
        2,
        f"calipers merge: cannot merge windows of --time 'ts' ({ts}) and of --time 'ts2' ({ts2}): "
        "they are keyed by different columns\n",
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h.replace('"window":3600.0', '"window":1e300'), "window must be null or a number of seconds in"),
        (lambda h: h.replace('"window":3600.0', '"window":0.0001'), "window must be null or a number of seconds in"),
        (lambda h: h.replace('"rows":300', '"rows":300,"rows":300'), "duplicate key 'rows' (2 times in one object)"),
        (lambda h: h.replace('"skipped":{}', '"skipped":{"a":1,"a":2}'), "duplicate key 'a'"),
        (lambda h: h.replace('"by":null', '"by":7'), "by must be null or a column name"),
        (lambda h: h.replace('"time":"ts"', '"time":""'), "time must be null or a column name"),
        (lambda h: h.replace('"version":1', '"version":true'), "unsupported version True"),  # true == 1 in Python
        (lambda h: h.replace('"version":1', '"version":1.0'), "unsupported version 1.0"),
    ],
)
def test_saved_header_is_range_checked(tmp_path, capsys, edit, message):
    log = _log(tmp_path / "a.jsonl")
    saved = tmp_path / "s.bin"
    assert _run(capsys, "score", log, "--time", "ts", "--window", "1h", "--save-sketch", str(saved))[0] == 0
    header, rest = _header(saved.read_bytes())
    text = json.dumps(header, separators=(",", ":"))
    changed = edit(text)
    assert changed != text
    bad = tmp_path / "bad.bin"
    bad.write_bytes(_with_header(changed, rest))
    from calipers.cli.saved import load_saved

    with pytest.raises(ValueError, match=re.escape(message)):
        load_saved(bad.read_bytes())
    code, out, err = _run(capsys, "merge", str(bad))
    assert (code, out) == (2, "") and err.startswith(f"calipers merge: cannot read {bad}: ") and err.count("\n") == 1


def test_window_option_is_range_checked(tmp_path, capsys):
    log = _log(tmp_path / "a.jsonl")
    for text in ("99999999999w", "0.0001s"):
        with pytest.raises(SystemExit) as info:
            _run(capsys, "score", log, "--time", "ts", "--window", text)
        assert info.value.code == 2
        assert f"invalid duration '{text}': must lie in [0.001, 1e+09] seconds" in capsys.readouterr().err
    for text in ("\uff11h", "1\u0661m", "\u0661s"):  # full-width and Arabic-Indic digits: refused, as in numbers
        with pytest.raises(SystemExit) as info:
            _run(capsys, "score", log, "--time", "ts", "--window", text)
        assert info.value.code == 2 and f"invalid duration {text!r}: use e.g. 30s" in capsys.readouterr().err


# ---------------------------------------------------------------- 7: the per-group grid, visible and chosen


def _group_log(path, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p**1.2).astype(int)
    g = np.array(["a", "b", "c"])[np.arange(n) % 3]
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"score": float(p[i]), "label": int(y[i]), "g": str(g[i])}) + "\n")
    return str(path), p, y, g


def test_group_grid_fine_equals_scoring_each_group_alone(tmp_path, capsys):
    log, p, y, g = _group_log(tmp_path / "a.jsonl")
    fine = json.loads(_run(capsys, "score", log, "--by", "g", "--group-grid", "fine", "--json")[1])
    compact = json.loads(_run(capsys, "score", log, "--by", "g", "--json")[1])
    assert fine["group_grid"] == {"grid": "fine", "cells": 3970}
    assert compact["group_grid"] == {"grid": "compact", "cells": 130}
    for key in ("a", "b", "c"):
        rows = g == key
        alone = calipers.ReliabilitySketch(15).update(p[rows], y[rows])  # scoring that group's rows alone
        assert fine["groups"][key]["metrics"]["ece_mass"] == alone.ece(binning="mass")
        assert fine["groups"][key]["metrics"]["smooth_ece"] == alone.smooth_ece()
        # equal-width metrics are exact on either grid
        assert compact["groups"][key]["metrics"]["ece"] == pytest.approx(alone.ece(), abs=1e-15)
    # the compact grid's equal-mass ECE differs (measured here: 2.5e-4, 6.4e-3, 2.4e-3 for a, b, c;
    # 0.0432 vs 0.0364 in the finding's data): what the note is for
    gaps = [abs(compact["groups"][k]["metrics"]["ece_mass"] - fine["groups"][k]["metrics"]["ece_mass"]) for k in "abc"]
    assert max(gaps) > 1e-3
    text = _run(capsys, "score", log, "--by", "g")[1]
    assert "per-group and per-window equal-mass ECE and smooth ECE use the compact grid (130 cells;" in text
    assert "--group-grid fine gives the values of scoring each group's rows alone" in text
    text = _run(capsys, "score", log, "--by", "g", "--group-grid", "fine")[1]
    assert "use the fine grid (3970 cells;" in text and "the same as scoring each group's rows alone" in text
    assert "grid" not in _run(capsys, "score", log)[1]  # no groups, no windows: no note
    with pytest.raises(SystemExit):
        _run(capsys, "score", log, "--by", "g", "--group-grid", "coarse")
    assert "invalid choice: 'coarse'" in capsys.readouterr().err


def test_group_grid_in_html_report_and_merge(tmp_path, capsys):
    log, p, y, g = _group_log(tmp_path / "a.jsonl")
    report = tmp_path / "report"
    assert _run(capsys, "score", log, "--by", "g", "--report", str(report))[0] == 0
    page = (report / "index.html").read_text()
    note = '<p id="group-grid">Note: per-group and per-window equal-mass ECE and smooth ECE use the compact grid'
    assert note in page
    fine1, fine2, compact, compact2 = (str(tmp_path / f) for f in ("f1.bin", "f2.bin", "c.bin", "c2.bin"))
    for path, grid in ((fine1, "fine"), (fine2, "fine"), (compact, "compact"), (compact2, "compact")):
        assert _run(capsys, "score", log, "--by", "g", "--group-grid", grid, "--save-sketch", path)[0] == 0
    both_fine = json.loads(_run(capsys, "merge", fine1, fine2, "--json")[1])
    assert both_fine["group_grid"]["grid"] == "fine"
    doubled = calipers.ReliabilitySketch(15).update(np.r_[p[g == "a"], p[g == "a"]], np.r_[y[g == "a"], y[g == "a"]])
    assert both_fine["groups"]["a"]["metrics"]["ece_mass"] == doubled.ece(binning="mass")
    mixed = json.loads(_run(capsys, "merge", fine1, compact, "--json")[1])  # folded onto compact, exactly
    assert mixed["group_grid"]["grid"] == "compact"
    two_compact = json.loads(_run(capsys, "merge", compact, compact2, "--json")[1])
    assert mixed["groups"] == two_compact["groups"]


@pytest.mark.parametrize("kind", ["monitor", "grouped"])
def test_blob_headers_refuse_duplicate_keys(kind):
    """A key given twice with the same value loaded before (json.loads keeps the last)."""
    from calipers._common import serde

    if kind == "monitor":
        m = CalibrationMonitor()
        m.record_many([0.2, 0.7], [0, 1], groups=["a", "b"])
        blob, type_id, load = m.to_bytes(), serde.TYPE_MONITOR, CalibrationMonitor.from_bytes
    else:
        g = GroupedSketch(grid="compact").update([0.2, 0.7], [0, 1], ["a", "b"])
        blob, type_id, load = g.to_bytes(), serde.TYPE_GROUPED_SKETCH, GroupedSketch.from_bytes
    payload = serde.unpack_payload(blob, type_id)
    (hlen,) = struct.unpack_from("<I", payload)
    text = payload[4 : 4 + hlen].decode()
    first = next(iter(json.loads(text)))
    doubled = ("{" + json.dumps(first) + ":" + json.dumps(json.loads(text)[first]) + "," + text[1:]).encode()
    forged = serde.pack_payload(type_id, struct.pack("<I", len(doubled)) + doubled + payload[4 + hlen :])
    with pytest.raises(ValueError, match=f"duplicate key '{first}'"):
        load(forged)
    assert load(blob).to_bytes() == blob  # the untouched blob loads
