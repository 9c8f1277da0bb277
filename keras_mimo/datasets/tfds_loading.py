"""Loading TFDS datasets that fail within seconds, not minutes, when offline."""

import contextlib
import logging
import socket

from keras_mimo._validation import check_count
from keras_mimo._validation import check_float

__all__ = ["DataUnavailableError", "load_prepared_or_download", "online"]


class DataUnavailableError(RuntimeError):
    """Raised within seconds when no data source is usable."""


def online(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> bool:
    """Whether the TFDS download server answers within `timeout` seconds (a float > 0; `port` an int in [1, 65535])."""
    port = check_count(port, "port")
    if port > 65535:
        raise ValueError(f"`port` must be an int in [1, 65535]. Received: port={port}")
    timeout = check_float(timeout, "timeout", low=0.0)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_tfds():
    """TFDS's warnings while it looks for a prepared copy (e.g. "Variant folder ...
    has no dataset_info.json") are silenced: a missing copy is expected there,
    and our own error says what to do."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_prepared_or_download(load, dataset: str, data_dir, hint: str = ""):
    """`load(download=False)`, else `load(download=True)` when online, else raises.

    Offline, `tfds.load` would retry the download for minutes: a prepared copy
    is looked for first, and the network is probed before downloading.

    Args:
        load: callable taking `download` (bool) and returning the data.
        dataset: the TFDS name, for the message.
        data_dir: the TFDS data directory (`--data_dir`), for the message.
        hint: what else the user can pass, appended to the message.

    Raises:
        DataUnavailableError: not prepared in `data_dir` and offline.
    """
    try:
        with _quiet_tfds():
            return load(download=False)
    except Exception as not_prepared:  # TFDS raises AssertionError / DatasetNotFoundError
        if not online():
            raise DataUnavailableError(
                f"TFDS has no prepared {dataset!r} in --data_dir={data_dir!r} and this "
                "machine cannot reach the download server. Pass --data_dir pointing at "
                f"a prepared TFDS directory{hint}."
            ) from not_prepared
    return load(download=True)
