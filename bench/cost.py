"""Case 8: cost model. What one million edits in a room of 5 cost on AWS, from the requests counted
and the handler times measured in case 3, at list prices (us-east-1), beside the API Gateway
message cost alone: the floor of any design on API Gateway WebSockets."""

from __future__ import annotations

from bench import requests
from bench.harness import Result

CASE = "8. Cost model"
EDITS = 1_000_000
MEMORY_GB = 0.5  # the template's MemorySize for the gateway function (512 MB)
# List prices, us-east-1, USD, as published in 2025 (check before relying on them).
PRICES = {
    "API Gateway message (per million, 32 KB units)": 1.00,
    "Lambda request (per million)": 0.20,
    "Lambda arm64 GB-second": 0.0000133334,
    "DynamoDB on-demand write request unit (per million)": 0.625,
    "DynamoDB on-demand read request unit (per million)": 0.125,
    "S3 PUT/LIST (per thousand)": 0.005,
}


def run() -> list[Result]:
    c = requests.measure()
    millions = EDITS / 1_000_000
    messages = (1 + c.posts) * millions * PRICES["API Gateway message (per million, 32 KB units)"]
    invocations = (1 + c.lambda_invokes) * millions * PRICES["Lambda request (per million)"]
    compute = (c.handler_ms + c.compactor_ms) / 1000 * MEMORY_GB * EDITS * PRICES["Lambda arm64 GB-second"]
    # Capacity units as on-demand DynamoDB bills them, index copies included (bench/capacity.py).
    write_units = sum(c.write_units.values()) / c.edits
    read_units = c.read_units / c.edits
    dynamodb = millions * (
        write_units * PRICES["DynamoDB on-demand write request unit (per million)"]
        + read_units * PRICES["DynamoDB on-demand read request unit (per million)"]
    )
    s3 = c.s3 * EDITS / 1000 * PRICES["S3 PUT/LIST (per thousand)"]
    total = messages + invocations + compute + dynamodb + s3
    prices = "; ".join(f"{name} ${price:g}" for name, price in PRICES.items())
    return [
        Result(
            CASE,
            "API Gateway messages",
            f"${messages:,.2f}",
            f"{1 + c.posts:.0f} per edit: the frame in, the ack, {c.room - 1} broadcasts",
        ),
        Result(CASE, "Lambda requests", f"${invocations:,.2f}", "one gateway invocation per edit, compactor amortized"),
        Result(
            CASE,
            "Lambda compute",
            f"${compute:,.2f}",
            f"{c.handler_ms + c.compactor_ms:.1f} ms per edit as measured here x {MEMORY_GB} GB",
        ),
        Result(
            CASE,
            "DynamoDB",
            f"${dynamodb:,.2f}",
            f"{write_units:.2f} write units and {read_units:.2f} read units per edit, index copies "
            f"included ({c.dynamodb_writes:.2f} write and {c.dynamodb_reads:.2f} read requests)",
        ),
        Result(CASE, "S3", f"${s3:,.2f}", "snapshots"),
        Result(
            CASE,
            f"total for {EDITS:,} edits, room of {c.room}",
            f"${total:,.2f}",
            f"{total / messages:.1f}x the API Gateway message cost alone",
        ),
        Result(CASE, "prices used", prices),
    ]
