"""Prometheus metrics of the API process."""

from prometheus_client import Counter, Gauge, Histogram

SUBMISSIONS = Counter("codefeedback_submissions_total", "Submissions accepted", ["language"])
REQUESTS = Counter("codefeedback_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("codefeedback_http_request_seconds", "HTTP request latency", ["method", "route"])
QUEUE = Gauge("codefeedback_queue_depth", "Jobs waiting in the broker queue")
WORKERS = Gauge("codefeedback_workers", "Workers with a fresh heartbeat")
