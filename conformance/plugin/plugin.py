"""The conformance pytest plugin (registered by entry point). Filled in by the plugin work."""
