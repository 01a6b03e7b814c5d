"""The one base of every error a user can act on; each interface shows it as a single line."""


class UserError(Exception):
    """Bad input, a refused setting or a missing table: reported as one line, never a traceback.

    It lives at the bottom of the import order (storage <- actors <- jobs) so that every
    layer's errors can derive from it, and the CLI, the HTTP service and the job map this one
    class instead of a list that drifts.
    """


class ConfigError(UserError, ValueError):
    """A setting is missing, malformed or contradicts another."""
