"""The one version string of calipers (the build reads it from here)."""

__version__ = "0.1.0"
