"""
Published checkpoints, as detectron2's model zoo names them: ``model_final_<8 hex>.pth``, the
hex digits being the first eight of the file's sha256, so that a file altered in transit or on
disk is refused wherever it is loaded (``atss.model_zoo.publish`` writes them).
"""

import hashlib
import os
import re
from typing import Optional

from .errors import CheckpointError

__all__ = ["PUBLISHED_NAME", "published_name", "sha256_of", "verify_published_checksum"]

PUBLISHED_NAME = re.compile(r"^model_final_([0-9a-f]{8})\.pth$")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def published_name(sha256: str) -> str:
    """The file name of a published checkpoint of this sha256: ``model_final_<8 hex>.pth``."""
    return f"model_final_{sha256[:8]}.pth"


def verify_published_checksum(path: str) -> Optional[str]:
    """
    For a file named as a published checkpoint, check that its sha256 starts with the name's
    eight hex digits and return the sha256; CheckpointError otherwise. Other files: None.
    """
    match = PUBLISHED_NAME.match(os.path.basename(path))
    if match is None or not os.path.isfile(path):
        return None
    sha256 = sha256_of(path)
    if not sha256.startswith(match.group(1)):
        raise CheckpointError(
            f"Checkpoint {path} is named for a sha256 starting {match.group(1)}, but its sha256 "
            f"is {sha256}: the file was altered or damaged. Download or publish it again."
        )
    return sha256
