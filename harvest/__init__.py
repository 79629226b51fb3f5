"""Harvest: the tracker for Mexico City's Cosecha de Lluvia rainwater-harvesting program."""

from harvest.celery import app as celery_app

__all__ = ["celery_app"]
