"""The lab DM server (OMA-DM and LwM2M) and certification suite for AT&T device management."""

__version__ = "0.1.0"
