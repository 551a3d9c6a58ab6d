"""Published checkpoints carry the start of their sha256 in their name (model_final_<8 hex>)."""

import hashlib
import pytest

from atss.checkpoint.errors import CheckpointError
from atss.checkpoint.published import published_name, verify_published_checksum


def write_published(directory, content: bytes):
    path = directory / published_name(hashlib.sha256(content).hexdigest())
    path.write_bytes(content)
    return path


def test_a_file_that_matches_its_name_passes_and_gives_its_sha256(tmp_path):
    path = write_published(tmp_path, b"weights")
    assert verify_published_checksum(str(path)) == hashlib.sha256(b"weights").hexdigest()


def test_a_file_altered_by_one_byte_is_refused(tmp_path):
    path = write_published(tmp_path, b"weights")
    path.write_bytes(b"weighta")
    with pytest.raises(CheckpointError, match="altered or damaged"):
        verify_published_checksum(str(path))


def test_other_file_names_are_not_checked(tmp_path):
    path = tmp_path / "model_final.pth"
    path.write_bytes(b"anything")
    assert verify_published_checksum(str(path)) is None
