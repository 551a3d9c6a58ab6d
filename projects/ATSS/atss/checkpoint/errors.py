"""The error of a checkpoint that cannot be used."""

__all__ = ["CheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read (missing, empty, truncated, not a checkpoint, altered) or
    that does not fit the model."""
