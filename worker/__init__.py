"""Background work: Celery queues, the beat schedule and the tasks (thin calls into the domain)."""
