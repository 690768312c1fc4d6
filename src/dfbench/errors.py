"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class DfbenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(DfbenchError, ValueError):
    """A malformed grid file, option or component parameter."""


class UnknownComponentError(ConfigError, KeyError):
    """A name that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class CheckpointError(DfbenchError):
    """A missing, corrupt or mismatched weights file."""
