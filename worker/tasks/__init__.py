"""Task modules; autodiscovery imports this package, which imports each module."""

from worker.tasks import health, housekeeping

__all__ = ["health", "housekeeping"]
