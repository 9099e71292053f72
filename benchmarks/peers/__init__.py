"""The same workloads run against asyncjobs and the peer queues, each in its own virtualenv."""
