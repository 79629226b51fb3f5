"""Test overrides: harmless secrets, fast password hashing. Everything else is base.py."""

import os
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage")
# The filesystem broker's folders: one per test run, never the development server's queue.
os.environ.setdefault("CELERY_QUEUE_DIR", str(Path(__file__).resolve().parents[2] / "var" / f"test-celery-{os.getpid()}"))

from harvest.settings.base import *  # noqa: F403
from harvest.settings.base import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a real worker process can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
WHITENOISE_AUTOREFRESH = True  # no collectstatic before tests
INSTALLED_APPS = [*INSTALLED_APPS, "django_migration_linter"]  # lintmigrations, a CI check
