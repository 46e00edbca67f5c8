"""For every test of the project: runs of the plugin skip acceptance.pdf (one headless Chromium
per run, seconds each); tests/plugin/test_reports_in_browser.py renders and checks it."""

import os

os.environ.setdefault("CONFORMANCE_PDF", "0")
