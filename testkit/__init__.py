"""The test kit: factory_boy factories and typed personas, for tests only.

Application code never imports it (an import-linter contract says so); the pytest plugin
(`testkit.support`) and the tests do.
"""

# The one password of every person the tests make: it passes Django's validators.
STRONG_PASSWORD = "correct-Horse-battery-9"
