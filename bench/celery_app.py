"""The alternative many teams build: a Celery task per delivery, sending with `requests`,
Redis as the broker. Used by celery_compare.py; the broker URL comes from the environment."""

from __future__ import annotations

import os

import requests
from celery import Celery

app = Celery("webhooks", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=64, task_acks_late=True)
_session = requests.Session()  # keep-alive per worker process, as a careful team would


@app.task(bind=True, max_retries=8)
def deliver(self, url: str, body: bytes, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    response = _session.post(url, data=body, headers=headers, timeout=15, allow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise self.retry(countdown=(self.request.retries + 1) ** 5)
