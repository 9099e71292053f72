"""The dashboard mounted in a FastAPI app, as the Operations page shows, run by the test suite.

From this directory, with a Redis at ``$ASYNCJOBS_REDIS_URL``: ``python -m dashboard_mount``.
"""

from fastapi.testclient import TestClient

# --8<-- [start:mount]
from fastapi import FastAPI
from asyncjobs.dashboard import create_app

dashboard = create_app(read_only=False, token=None)   # on $ASYNCJOBS_REDIS_URL; or create_app("redis://...")
app = FastAPI(lifespan=lambda app: dashboard.router.lifespan_context(dashboard))
app.mount("/admin/jobs", dashboard)
# --8<-- [end:mount]

if __name__ == "__main__":
    with TestClient(app) as client:
        page = client.get("/admin/jobs/")
        assert page.status_code == 200, page.text
        assert 'href="/admin/jobs/workers"' in page.text, "links follow the mount path"
    print("ok")
