"""The bench's yardstick: a plain script doing only the unavoidable work of a check run.

It runs as a Lambda handler in the same local runtime as the check function (same worker,
same environment, same CPU quota; bench/ratio.py), so that the two differ only in what
they do. Per run: a pool of threads (CHECK_CONCURRENCY, as the function's) fetches each
monitor's answer over https from the same fake with the same client (urllib3, one shared
TLS context with certifi and the fakes' test CA), parses its JSON, and batch-writes one
item per monitor to the same table, 25 items a call, retrying unprocessed items. It keeps
what any script would keep warm: the monitor list, the key, the connections.

No rules, no history, no alert state, no validation: QuotaWatch's CPU over this one is
what all of those cost.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import boto3
import certifi
import urllib3
import yaml

_local = threading.local()


@cache
def _setup() -> tuple[list[tuple[str, str]], str, urllib3.PoolManager, ThreadPoolExecutor, Any]:
    """Once per container: the monitors' URLs, the key, the connection pool, the threads."""
    with open(os.environ["MONITORS_FILE"]) as handle:
        monitors = yaml.safe_load(handle)["monitors"]
    urls = [(m["id"], m["base_url"].rstrip("/") + "/v2/account") for m in monitors]
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["API_KEYS_SECRET_NAME"])
    key = json.loads(secret["SecretString"])["bench"]
    context = ssl.create_default_context(cafile=certifi.where())
    extra = os.environ.get("QUOTAWATCH_CA_BUNDLE")
    if extra:
        context.load_verify_locations(extra)
    threads = int(os.environ.get("CHECK_CONCURRENCY", "64"))
    pool = urllib3.PoolManager(maxsize=threads, ssl_context=context)
    return urls, key, pool, ThreadPoolExecutor(threads), boto3.client("dynamodb")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    urls, key, pool, executor, dynamodb = _setup()
    table = os.environ["TABLE_NAME"]
    at = str(int(time.time()))
    headers = {"X-API-Key": key, "Accept": "application/json"}

    def fetch(monitor: tuple[str, str]) -> dict[str, Any]:
        monitor_id, url = monitor
        response = pool.request("GET", url, headers=headers, timeout=10.0, retries=False)
        answer = json.loads(response.data)
        return {
            "pk": {"S": f"PEER#{monitor_id}"},
            "sk": {"S": "LATEST"},
            "at": {"N": at},
            "calls": {"N": str(answer["calls"])},
            "callsLimit": {"N": str(answer["callsLimit"])},
        }

    items = list(executor.map(fetch, urls))
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(batch: list[dict[str, Any]]) -> None:
        requests = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        for attempt in range(8):
            left = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            if not left:
                return
            requests = left
            time.sleep(0.05 * 2**attempt)
        raise RuntimeError("unprocessed items left after 8 attempts")

    list(executor.map(write, batches))
    return {"monitors": len(items)}
