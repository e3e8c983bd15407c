"""The one error base for bad user input: the CLI prints its message (no traceback) and exits 2."""


class UserError(ValueError):
    """Bad input from a user: a file, field or value. The message names it."""
