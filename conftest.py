# The notebook runner lives in tests/; registering it here lets it collect notebooks/*.md.
pytest_plugins = ["tests.notebook_runner"]
