"""Task modules; autodiscovery imports this package, which imports each module."""

from worker.tasks import coverage, exports, health, housekeeping, imports, maintenance, outbox

__all__ = ["coverage", "exports", "health", "housekeeping", "imports", "maintenance", "outbox"]
