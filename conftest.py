from causeway.testkit.support import client  # noqa: F401
