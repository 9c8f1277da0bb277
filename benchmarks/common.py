"""What the benchmarks share: finished-run reading, corrupted-set caching, tables, figures.

Each study writes one `result.json` per trained variant under its run
directory and reads them back here; corrupted test sets are generated once
and cached as npz; reports write Markdown tables and PNG figures.
"""

import json
import os

import numpy as np


def finished_variants(run_dir, names) -> dict:
    """{name: result.json contents} of the variants in `names` whose run finished, in `names` order."""
    found = {}
    for name in names:
        path = os.path.join(run_dir, name, "result.json")
        if os.path.exists(path):
            with open(path) as f:
                found[name] = json.load(f)
    return found


def variants_in_order(variants: list, wanted: list) -> list:
    """The `variants` tuples (name first) named in `wanted`, in `wanted`'s order.

    The profiles list the comparison that matters first, so a run cut short
    still compares.
    """
    by_name = {v[0]: v for v in variants}
    return [by_name[name] for name in wanted if name in by_name]


def cached_corrupted_sets(images, labels, corruptions, severities, cache, seed: int = 0, progress: bool = False):
    """`({(type, severity): uint8 images}, labels)` of `images`, generated once and cached in `cache` (npz)."""
    from keras_mimo.evaluation import corrupted_sets

    if os.path.exists(cache):
        data = np.load(cache)
        sets = {(k.split("@")[0], int(k.split("@")[1])): data[k] for k in data.files if k != "labels"}
        return sets, data["labels"]
    sets = {}
    for corruption in corruptions:
        sets.update(corrupted_sets(images, corruptions=[corruption], severities=severities, seed=seed))
        if progress:
            print(f"corrupted: {corruption}", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    np.savez(cache, labels=labels, **{f"{c}@{s}": v for (c, s), v in sets.items()})
    return sets, np.asarray(labels)


def markdown_table(header, rows) -> str:
    """A Markdown table: `header` a list of column titles, `rows` lists of cells (str() each)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def save_figure(fig, path, dpi: int = 90):
    """Saves a matplotlib figure as PNG (folders made) and closes it."""
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def write_json(result, path):
    """`result` as indented JSON at `path` (folders made)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
