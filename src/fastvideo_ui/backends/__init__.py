"""Backends turn a job's parameters into a video. They run inside a worker process
and know nothing of HTTP, the database or the scheduler."""
