"""Inspector: visual inspection of small production series on frozen ImageNet features."""
from inspector.version import __version__

__all__ = ["__version__"]
