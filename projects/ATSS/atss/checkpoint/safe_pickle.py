"""
Reading checkpoints without running their code (pure Python and numpy).

A pickle names the functions that rebuild its objects, and unpickling calls them: a file can name
``os.system``. ``.pkl`` checkpoints (detectron2's ImageNet trunks, Caffe2 / Detectron models) hold
numpy arrays in plain containers, so they are read with an unpickler that admits the numpy
functions that rebuild arrays and nothing else (:func:`load_pkl_checkpoint`). ``.pth`` files go
through torch's ``weights_only`` load, whose refusal :func:`weights_only_refusal` recognises so
that it is reported as such rather than as a damaged file.
"""

import importlib
import pickle
from typing import Any, Callable, Dict, Optional

from .errors import CheckpointError

__all__ = [
    "RefusedGlobal",
    "RestrictedUnpickler",
    "load_pkl_checkpoint",
    "read_checkpoint_file",
    "weights_only_refusal",
]

# What a pickled numpy array or scalar calls (numpy's ``ndarray.__reduce__``,
# ``scalar.__reduce__`` and protocol 5's ``_frombuffer``), under numpy 1's module names
# (numpy.core) and numpy 2's (numpy._core); the plain containers pickle builds by name; and the
# string-to-bytes encoding by which protocols 0-2 write bytes under Python 3.
_ALLOWED = {
    "_codecs": {"encode"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy": {"ndarray", "dtype"},
    "collections": {"OrderedDict"},
    "builtins": {"set", "frozenset"},
    "__builtin__": {"set", "frozenset"},  # a Python 2 pickle's name of builtins
}


def _import(module: str, name: str) -> Any:
    if module == "__builtin__":
        module = "builtins"
    if module.startswith("numpy.core."):
        # numpy 2 moved numpy.core to numpy._core and warns on the old name.
        try:
            return getattr(importlib.import_module("numpy._core" + module[10:]), name)
        except ImportError:
            pass
    return getattr(importlib.import_module(module), name)


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle names a function or class outside the admitted ones; the message is its name."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers only; any other object a pickle
    names raises :class:`RefusedGlobal` naming it."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return _import(module, name)
        raise RefusedGlobal(f"{module}.{name}")


def load_pkl_checkpoint(path: str) -> Dict[str, Any]:
    """
    A ``.pkl`` checkpoint in the form detectron2's ``DetectionCheckpointer._load_file`` returns
    it: a file of detectron2's model zoo (``"model"`` and ``"__author__"``) as it is; otherwise a
    Caffe2 / Detectron file (its ``"blobs"`` if any, without the ``*_momentum`` entries) under
    ``"model"``, to be matched by name heuristics.

    Raises CheckpointError naming the object when the file holds anything but numpy arrays and
    plain containers, before any of it is built.
    """
    with open(path, "rb") as f:
        try:
            data = RestrictedUnpickler(f, encoding="latin1").load()
        except RefusedGlobal as e:
            raise CheckpointError(
                f"Checkpoint {path} is refused: it names {e}, and loading it would call that "
                "code. A .pkl checkpoint may hold only numpy arrays in plain containers."
            ) from None
        except Exception as e:
            raise CheckpointError(
                f"Checkpoint {path} cannot be read; it is truncated, damaged or not a checkpoint "
                f"({type(e).__name__}: {e})."
            ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"Checkpoint {path} holds a {type(data).__name__}, not a dict.")
    if "model" in data and "__author__" in data:
        return data
    data = data.get("blobs", data)
    model = {k: v for k, v in data.items() if not k.endswith("_momentum")}
    return {"model": model, "__author__": "Caffe2", "matching_heuristics": True}


def weights_only_refusal(error: BaseException) -> Optional[str]:
    """
    When ``error`` is torch's ``weights_only`` load refusing a file for what it would run, the
    line of torch's message that names it (e.g. ``Trying to load unsupported GLOBAL posix.system
    ...``); None for any other error.
    """
    message = str(error)
    if not isinstance(error, pickle.UnpicklingError) or "Weights only load failed" not in message:
        return None
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    named = [line for line in lines[1:] if "GLOBAL" in line or line.startswith("Unsupported")]
    return named[0] if named else "an object torch's weights_only load does not admit"


def read_checkpoint_file(path: str, torch_load: Callable[[str], Dict[str, Any]]) -> Dict[str, Any]:
    """
    A checkpoint file as a checkpointer's ``_load_file`` returns it, without running its code:
    ``.pkl`` through :func:`load_pkl_checkpoint`, anything else through ``torch_load``
    (detectron2's ``weights_only`` load). A file refused for what it would run, or one that
    cannot be read, raises CheckpointError saying which.
    """
    if path.endswith(".pkl"):
        return load_pkl_checkpoint(path)
    try:
        return torch_load(path)
    except Exception as e:
        refusal = weights_only_refusal(e)
        if refusal is not None:
            raise CheckpointError(
                f"Checkpoint {path} is refused: it holds objects other than tensors and plain "
                f"containers, and loading them would run code ({refusal})."
            ) from None
        # torch's first sentence says what failed; the rest (e.g. about weights_only) would
        # suggest a workaround for files that are fine.
        cause = str(e).strip().split(". ")[0].splitlines()[0]
        raise CheckpointError(
            f"Checkpoint {path} cannot be read; it is truncated, damaged or not a checkpoint "
            f"({type(e).__name__}: {cause})."
        ) from e
