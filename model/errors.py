"""Errors of the model package. The study CLI prints them as one line with exit code 2."""


class ModelError(Exception):
    """A model folder, saved adapter or weight file that cannot be used as asked."""


class ModelConfigError(ModelError, ValueError):
    """A model spec or merge setting outside what the model supports."""
