"""The error of a config the user can fix."""

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A config, override or command-line problem the user can fix; the message names the fix."""
