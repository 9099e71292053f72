"""The app of the Getting started, Tasks and Scheduling pages, run whole by the test suite.

From this directory, with a Redis at ``$ASYNCJOBS_REDIS_URL``: ``python -m app``. It runs a
worker in-process and goes through each section the pages include.
"""

# --8<-- [start:define]
# app.py
from asyncjobs import Context, Queue

queue = Queue("emails")        # redis_url=..., else $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task                    # name defaults to "module.qualname": here "app.send_email"
async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
    return {"to": to, "status": "sent"}


@queue.task(name="images.resize", timeout=30.0, result_ttl=600)
def resize(path: str, width: int) -> str:      # a plain def runs in a worker thread
    return path.replace(".jpg", f"-{width}.jpg")


@queue.task(timeout=10.0)
async def report(ctx: Context, customer_id: int) -> str:   # Context comes first, and is not sent
    return f"report {customer_id} by job {ctx.job_id}, attempt {ctx.attempt}"
# --8<-- [end:define]


# --8<-- [start:priority_task]
@queue.task(priority=5)                            # the default of this task's jobs
async def charge(order_id: int) -> str:
    return f"charged order {order_id}"
# --8<-- [end:priority_task]


# --8<-- [start:cron]
# app.py (continued)
from datetime import timedelta


@queue.cron("*/5 * * * *", tz="Europe/Paris")   # a 5-field cron expression, read in tz (default UTC)
async def cleanup() -> int:                      # still a normal task: cleanup.delay() works too
    return 0


@queue.cron(every=timedelta(seconds=30))         # slots at the multiples of 30 s since the epoch
async def heartbeat_report(ctx: Context) -> None:
    print(ctx.job_id)                            # cron:app.heartbeat_report:1700000030


async def plan() -> None:                        # a schedule stored in Redis, added at run time
    info = await queue.schedule("nightly-42", send_email.call("ops@example.com", "nightly"),
                                cron="0 3 * * *", misfire_grace=600)
    print(info.next_run)                         # an aware datetime in the schedule's time zone
    for s in await queue.schedules():            # ScheduleInfo: name, task, cron or every, tz,
        print(s.name, s.next_run, s.last_run)    # next run, last run, grace, from_code
    await queue.unschedule("nightly-42")         # True; False when there was no such schedule
# --8<-- [end:cron]


async def use() -> None:
    # --8<-- [start:use]
    job = await send_email.delay("a@example.com", "Welcome")   # Job[dict[str, str]], once it is in Redis
    print(job.id)
    value = await job.result(timeout=10)                        # dict[str, str]
    value = await queue.result(job.id, timeout=10)              # the same, from any process that knows the id
    info = await job.info()                                     # JobInfo | None: status, attempts, times, error
    await send_email("a@example.com", "hi")                     # calling the task runs it inline

    calls = [resize.call(f"img{i}.jpg", 640) for i in range(1000)]   # validated and encoded, no I/O
    jobs = await queue.enqueue_many(calls)                           # one round trip for all of them
    job = await queue.enqueue(resize.call("cover.jpg", 1280))        # one call: what .delay() does
    # --8<-- [end:use]
    assert value == {"to": "a@example.com", "status": "sent"}
    assert info is not None and info.attempts == 1
    assert [await j.result(timeout=30) for j in jobs] == [f"img{i}-640.jpg" for i in range(1000)]
    assert await job.result(timeout=10) == "cover-1280.jpg"
    assert send_email.name == "app.send_email" and resize.name == "images.resize"
    assert (await report.delay(42)).id
    assert (await queue.result((await report.delay(42)).id, timeout=10)).startswith("report 42 by job ")


async def options(order_id: int) -> None:
    from datetime import UTC, datetime

    # --8<-- [start:options]
    await send_email.options(delay=timedelta(minutes=5)).delay("a@example.com", "Reminder")
    await send_email.options(at=datetime(2027, 1, 1, 9, 0, tzinfo=UTC)).delay("a@example.com", "Happy new year")
    job = await charge.options(job_id=f"order-{order_id}").delay(order_id)   # again with that id: a no-op
    # --8<-- [end:options]
    again = await charge.options(job_id=f"order-{order_id}").delay(order_id)
    assert again.id == job.id == f"order-{order_id}"
    assert await job.result(timeout=10) == f"charged order {order_id}"
    # --8<-- [start:priority_use]
    await charge.options(priority=9).delay(42)          # this one job
    # --8<-- [end:priority_use]


async def inspect(job_id: str) -> None:
    from asyncjobs import JobState

    # --8<-- [start:inspect]
    counts = await queue.inspect.counts()            # QueueCounts: pending, scheduled, running, dead, workers, counters
    page = await queue.inspect.jobs(JobState.QUEUED, offset=0, limit=50)   # oldest first; also SCHEDULED, RUNNING, FAILED
    info = await queue.inspect.job(job_id)           # JobInfo | None, from any process
    workers = await queue.inspect.workers()          # WorkerInfo: id, last beat, alive, jobs held
    # --8<-- [end:inspect]
    assert counts.scheduled >= 2 and counts.workers == 1 and len(workers) == 1
    assert info is not None and info.status is JobState.COMPLETE
    assert all(job.status is JobState.QUEUED for job in page)


async def dead_letters() -> None:
    from asyncjobs import JobDeadLettered

    elsewhere = Queue("emails")  # a producer that knows a task this worker does not
    not_deployed = elsewhere.task(name="not.deployed")(send_email.fn)
    try:
        await (await not_deployed.delay("a@example.com", "?")).result(timeout=10)
    except JobDeadLettered as exc:
        print("dead-lettered:", exc)
    finally:
        await elsewhere.aclose()
    # --8<-- [start:dead_letters]
    for letter in await queue.inspect.dead_letters(limit=20):    # newest first
        print(letter.reason, letter.job_id, letter.message)
    await queue.inspect.requeue_dead_letters()                    # e.g. after deploying the unknown task
    await queue.inspect.purge_dead_letters()
    # --8<-- [end:dead_letters]


async def main() -> None:
    import anyio

    from asyncjobs import Worker

    worker = Worker(queue, concurrency=20)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await use()
        await options(7)
        await inspect("order-7")
        await dead_letters()
        await plan()
        worker.stop()
    await queue.aclose()
    print("ok")


if __name__ == "__main__":
    import anyio

    anyio.run(main)
