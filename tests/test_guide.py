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
    for needle in ("MIMOModel({", "MIMOHead(1, 2, ensemble_method", "mask_zero=True",
                   "backbone(keras_mimo.MIMOInput", "Block()", "keras_hub", "keras.Sequential",
                   "keras_mimo.convert("):
        assert needle in text, needle


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
