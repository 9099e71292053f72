"""One module a system: its benchmark tasks, how to enqueue them, read results and start a worker."""
