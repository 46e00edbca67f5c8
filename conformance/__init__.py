"""The lab DM server (OMA-DM and LwM2M) and certification suite for AT&T device management.

PYTEST_DONT_REWRITE
"""

# The marker above: catalog runs are forks of a zygote that has imported this package
# (conformance/zygote.py), which pytest can no longer rewrite; without the marker it warns so
# in every run. Test modules are rewritten as always.

__version__ = "0.1.0"
