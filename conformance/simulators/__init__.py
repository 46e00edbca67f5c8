"""Reference devices (OMA-DM and LwM2M) run as their own processes, with fault injection."""
