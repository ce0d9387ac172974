"""The debiasing examples run as written (examples/debias_regression.py and, with few
epochs, examples/hcalibration_cifar.py) and show what docs/debiasing.md says they show."""

from __future__ import annotations

from conftest import load_example


def test_regression_example_shows_shrinkage_and_its_correction(capsys):
    out = load_example("debias_regression").main()
    assert "contrast: truth" in capsys.readouterr().out
    assert out["slope"] < 1.0  # shrinkage toward the mean
    assert out["naive"] < out["truth"]  # the naive contrast is attenuated
    for name in ("lcc", "tweedie"):
        assert abs(out[name] - out["truth"]) < abs(out["naive"] - out["truth"])
        assert out[f"{name}_low"] < out[name] < out[f"{name}_high"]
    assert out["lcc_low"] < out["truth"] < out["lcc_high"]
    assert out["ppi_width"] < out["classical_width"]  # predictions buy precision
    assert abs(out["ppi"] - out["true_mean"]) < out["ppi_width"]


def test_cifar_example_runs(capsys):
    out = load_example("hcalibration_cifar").main(max_epochs=25)
    text = capsys.readouterr().out
    assert "temperature scaling" in text and "h-calibration (unweighted)" in text
    table = out["metrics"]
    accuracy = table["uncalibrated"]["accuracy"]
    for name, row in table.items():
        assert set(row) >= {"ece", "debiased_ece", "debiased_l2", "nll", "accuracy"}, name
        assert abs(row["accuracy"] - accuracy) < 0.002, name  # mixtures of temperatures keep the argmax
    assert table["temperature scaling"]["ece"] < table["uncalibrated"]["ece"]
    assert table["h-calibration (unweighted)"]["epochs"] <= 25
