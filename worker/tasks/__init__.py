"""Task modules; autodiscovery imports this package, which imports each module."""

from worker.tasks import health

__all__ = ["health"]
