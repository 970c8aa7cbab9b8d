"""Local servers the integration tests run against (started by fixtures in tests/conftest.py)."""
