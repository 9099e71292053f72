# --8<-- [start:test]
# test_app.py, run with: pytest -p asyncjobs.testing
from asyncjobs import JobState
from asyncjobs.testing import drain_sync


def test_welcome_email(asyncjobs_queue):
    @asyncjobs_queue.task(name="send_email")
    def send_email(to: str) -> str:
        return f"sent to {to}"

    job = send_email.delay_sync("a@example.com")
    [done] = drain_sync(asyncjobs_queue)              # runs every waiting job, then returns
    assert (done.status, done.result) == (JobState.COMPLETE, "sent to a@example.com")
    assert job.result(timeout=1) == "sent to a@example.com"
# --8<-- [end:test]
