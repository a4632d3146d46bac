"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""

from model.errors import ModelError


class UserError(Exception):
    """Bad input (config, CLI, data files, study folder): one line, exit code 2."""


class ConfigError(UserError, ValueError):
    """A config field holds a value outside what is allowed."""


class DataError(UserError):
    """A data file is missing, empty or malformed."""


class ClusterError(UserError):
    """A Ray cluster the study was pointed at cannot be reached or joined."""


class FolderError(UserError):
    """A file of a run or study folder is missing or damaged (torn, truncated, not ours)."""


USER_ERRORS = (UserError, ModelError)
"""What the CLI reports as one line with exit code 2: these and the model package's errors
(a model folder or saved adapter that cannot be used)."""


class NonFiniteLossError(RuntimeError):
    """Training diverged: the loss became NaN or infinite (not a user-input error)."""


class TrialStopped(RuntimeError):
    """run_trial's `stop` event was set (a scheduler stopped the trial): it ended at a step."""
