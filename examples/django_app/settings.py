"""The whole configuration of a minimal Django project that enqueues asyncjobs jobs.

No database: the views only talk to Redis (``$ASYNCJOBS_REDIS_URL``, see ``tasks.py``).
"""

SECRET_KEY = "example-only-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS = ["examples.django_app"]  # for its management command, asyncjobs_worker
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
