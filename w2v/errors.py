"""User-facing errors: each carries a one-line message that names the problem and the fix."""


class W2VError(Exception):
    """An error caused by the user's input or configuration, shown as one line without traceback."""
