"""Root conftest: what every pytest run of the project needs. Kept light on purpose: catalog
runs (``conformance run``) load it too, once per run; the hypothesis profiles live in
tests/conftest.py, which only the suite's own tests load."""

pytest_plugins = ["pytester"]
