"""The official CIFAR python tarball to the npz copy `cifar.load_npz` reads (command line, no network).

python -m keras_mimo.datasets.cifar_tarball --from_tar cifar-10-python.tar.gz --out path/to/cifar10_npz
"""

import os
import pickle
import tarfile

import numpy as np

__all__ = ["npz_from_tarball"]  # and `main`, the command line (python -m)


def _tar_member(tar, suffix):
    names = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(suffix)]
    if len(names) != 1:
        raise ValueError(f"The tarball has {len(names)} files ending in {suffix!r}; expected one.")
    return pickle.load(tar.extractfile(names[0]), encoding="bytes")


def npz_from_tarball(tarball: str, out_dir: str) -> str:
    """Writes the npz layout of `load_npz` from an official CIFAR python tarball.

    Args:
        tarball: `cifar-10-python.tar.gz` (batches `data_batch_1..5`,
            `test_batch`) or `cifar-100-python.tar.gz` (`train`, `test`;
            fine labels), as downloaded from www.cs.toronto.edu/~kriz/cifar.html.
        out_dir: where `train_0..4.npz` and `test.npz` go (created); each
            holds uint8 `x` `(N, 32, 32, 3)` and `y` `(N,)`.

    Returns:
        `out_dir`, for `--npz_dir` (with `--dataset cifar100` for CIFAR-100).
    """
    if not os.path.isfile(tarball):
        raise FileNotFoundError(f"`tarball` must be a CIFAR python tarball file. Received: tarball={tarball!r}")

    def arrays(batch):
        key = b"labels" if b"labels" in batch else b"fine_labels"
        x = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(batch[key], np.uint8)

    with tarfile.open(tarball) as tar:
        names = [m.name for m in tar.getmembers()]
        if any(n.endswith("data_batch_1") for n in names):
            train = [arrays(_tar_member(tar, f"data_batch_{k}")) for k in range(1, 6)]
            test = arrays(_tar_member(tar, "test_batch"))
        elif any(n.endswith("/train") for n in names):
            x, y = arrays(_tar_member(tar, "/train"))
            train = list(zip(np.array_split(x, 5), np.array_split(y, 5)))
            test = arrays(_tar_member(tar, "/test"))
        else:
            raise ValueError(
                f"{tarball!r} is neither cifar-10-python.tar.gz (data_batch_1..5, test_batch) nor "
                "cifar-100-python.tar.gz (train, test)."
            )
    os.makedirs(out_dir, exist_ok=True)
    for k, (x, y) in enumerate(train):
        np.savez(os.path.join(out_dir, f"train_{k}.npz"), x=x, y=y)
    np.savez(os.path.join(out_dir, "test.npz"), x=test[0], y=test[1])
    return out_dir


def main(argv: list[str] | None = None) -> None:
    """`python -m keras_mimo.datasets.cifar_tarball --from_tar TARBALL --out DIR`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m keras_mimo.datasets.cifar_tarball",
        description="Convert an official CIFAR-10/100 python tarball into the npz copy that "
        "examples/cifar_resnet.py --npz_dir and the benchmarks read (no network needed).",
    )
    parser.add_argument("--from_tar", required=True, help="cifar-10-python.tar.gz or cifar-100-python.tar.gz")
    parser.add_argument("--out", required=True, help="output directory for train_0..4.npz and test.npz")
    args = parser.parse_args(argv)
    out = npz_from_tarball(args.from_tar, args.out)
    print(f"wrote {out}/train_0..4.npz and {out}/test.npz")


if __name__ == "__main__":
    main()
