"""The guide's "Which models work" snippets run verbatim, one namespace each."""

import os
import pathlib
import re

import pytest

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def which_models_blocks():
    text = GUIDE.read_text()
    section = text.split("## Which models work", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_every_row_of_the_table_has_snippets():
    text = "\n".join(which_models_blocks())
    for needle in (
        "MIMOModel({",
        "MIMOHead(1, 2, ensemble_method",
        "mask_zero=True",
        "backbone(keras_mimo.MIMOInput",
        "Block()",
        "keras_hub",
        "keras.Sequential",
        "keras_mimo.convert(",
    ):
        assert needle in text, needle


@pytest.mark.large  # the documentation's snippets run end to end (once, under the large tier's backend)
@pytest.mark.parametrize("index", range(len(which_models_blocks())))
def test_which_models_snippet_runs(index):
    import keras
    import numpy as np

    import keras_mimo

    block = which_models_blocks()[index]
    if "import keras_hub" in block and not os.environ.get("KERAS_MIMO_EXPECT_INSTALLED"):
        pytest.importorskip("keras_hub")  # CI installs it; elsewhere it may be missing
    namespace = {"keras": keras, "np": np, "keras_mimo": keras_mimo}
    exec(compile(block, f"{GUIDE}:which-models[{index}]", "exec"), namespace)


def acting_blocks():
    section = GUIDE.read_text().split("## Acting on uncertainty", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_acting_section_has_its_three_snippets():
    blocks = acting_blocks()
    assert len(blocks) == 3
    assert "coverage_at_risk" in blocks[0] and "with_prediction_sets" in blocks[1]
    assert "with_uncertainty" in blocks[2]


@pytest.mark.large
@pytest.mark.parametrize("index", range(3))
def test_acting_snippet_runs_alone(index, capsys):
    block = acting_blocks()[index]
    exec(compile(block, f"{GUIDE}:acting[{index}]", "exec"), {})  # an empty namespace: the snippet imports
    printed = capsys.readouterr().out
    assert printed.strip()
    if index == 1:  # a 90 % set holds the label about 90 % of the time (500 calibration, 500 test rows)
        coverage = float(printed.split("coverage ")[1].split(",")[0])
        assert coverage >= 0.85


@pytest.mark.large
def test_mixmo_snippet_runs_alone(capsys):
    section = GUIDE.read_text().split("## Cut-MixMo", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(block, f"{GUIDE}:mixmo", "exec"), {})
    assert capsys.readouterr().out.split() == ["(4,", "2,", "10)", "MixMoInput"]


def test_the_starting_from_trained_weights_snippet_runs():
    import keras
    import numpy as np

    section = GUIDE.read_text().split("### Starting from trained weights", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert 'weights="keep"' in block
    exec(compile(block, f"{GUIDE}:starting-from-trained-weights", "exec"), {"keras": keras, "np": np})
