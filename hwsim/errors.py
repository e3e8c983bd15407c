"""The error classes for bad user input, in one module that imports nothing of the project, so any
module can raise them without an import cycle. The CLI prints their message (no traceback) and exits 2."""


class UserError(ValueError):
    """Bad input from a user: a file, field or value. The message names it."""


class HwConfigError(UserError):
    """A malformed accelerator config; the message names the file and the key path."""
