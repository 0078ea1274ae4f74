"""The connectors Causeway ships, each one module declared in the `causeway.connectors` entry point group."""
