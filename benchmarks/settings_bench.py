"""Settings for the API load benchmark (benchmarks/api_load.py); never for a real deployment.

Production settings (base.py plus the environment), with three changes a load test from one machine needs:

- the public status lookup's limits are raised: every wrk request comes from 127.0.0.1, so the
  per-client limit (5 failures in 10 minutes, A4) would otherwise answer 429 to the load. No
  environment variable sets these limits, so this module does;
- the URLconf adds two baselines (benchmarks/urls_bench.py): an empty answer and a bare keyset query;
- harmless defaults for what a throwaway benchmark database needs (secret key, no HTTPS redirect).
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage")

from harvest.settings.base import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls_bench"

# Unthrottled lookup: the benchmark measures the lookup's work, not its 429 answer.
HARVEST_LOOKUP_FAILURES_PER_CLIENT = 1_000_000_000
HARVEST_LOOKUP_FAILURES_PER_FOLIO = 1_000_000_000
