"""A user module whose own import fails: the CLI must keep this traceback."""

import a_dependency_that_is_not_installed  # noqa: F401
