"""User-facing applications built on artifacts: predict (and later the live demo and face recognition)."""
