from causeway.testing import client  # noqa: F401
