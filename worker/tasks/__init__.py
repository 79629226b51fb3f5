"""Task modules; autodiscovery imports this package, which imports each module."""

from worker.tasks import coverage, health, housekeeping, maintenance, outbox

__all__ = ["coverage", "health", "housekeeping", "maintenance", "outbox"]
