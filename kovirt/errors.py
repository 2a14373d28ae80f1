"""Errors every kovirt layer may raise; each carries a short machine-readable reason."""


class KovirtError(Exception):
    """A failure a user can act on: the message says what happened and what to do."""

    reason: str = "Error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class MissingDependency(KovirtError):
    """A program or package is not installed; the message names the command that installs it."""

    reason = "MissingDependency"
