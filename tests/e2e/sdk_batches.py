"""The mock upstream's batch APIs through the official OpenAI and Anthropic Python SDKs: create,
retrieve, results and cancel.

`triage batch` talks to these APIs with its own clients; this check keeps the mock honest, so
that what those clients are tested against is what the SDKs (and so the real APIs) accept.
Run by `crates/triage-cli/tests/it/batch.rs` against `triage mock-upstream`. Usage:

    TRIAGE_MOCK_URL=http://127.0.0.1:PORT python3 tests/e2e/sdk_batches.py

Exits non-zero on the first failed check; prints one JSON line per check otherwise.
"""

import io
import json
import os
import sys

import anthropic
import openai

MOCK = os.environ["TRIAGE_MOCK_URL"].rstrip("/")


def check(name, condition, detail):
    print(json.dumps({"check": name, "ok": bool(condition), "detail": detail}), flush=True)
    if not condition:
        sys.exit(1)


def line(custom_id, prompt):
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": prompt}]},
    }


def openai_checks():
    client = openai.OpenAI(base_url=MOCK + "/v1", api_key="test", max_retries=0)
    lines = [line("a", "first"), line("b", "second [mock:batch-error]"), line("c", "third")]
    data = "".join(json.dumps(item) + "\n" for item in lines).encode()
    uploaded = client.files.create(file=("batch.jsonl", io.BytesIO(data)), purpose="batch")
    check("openai files.create", uploaded.id and uploaded.purpose == "batch", uploaded.id)
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    check("openai batches.create", batch.status == "validating", batch.status)
    polled = client.batches.retrieve(batch.id)
    check("openai batches.retrieve in progress", polled.status == "in_progress", polled.status)
    done = client.batches.retrieve(batch.id)
    counts = done.request_counts
    check(
        "openai batches.retrieve completed",
        done.status == "completed" and (counts.total, counts.completed, counts.failed) == (3, 2, 1),
        [done.status, counts.total, counts.completed, counts.failed],
    )
    output = [json.loads(text) for text in client.files.content(done.output_file_id).text.splitlines()]
    answers = {item["custom_id"]: item["response"]["body"]["choices"][0]["message"]["content"] for item in output}
    check("openai output file", answers == {"a": "echo: first", "c": "echo: third"}, answers)
    errors = [json.loads(text) for text in client.files.content(done.error_file_id).text.splitlines()]
    check(
        "openai error file",
        [(item["custom_id"], item["response"]["status_code"]) for item in errors] == [("b", 500)],
        errors,
    )


def openai_cancel_checks():
    client = openai.OpenAI(base_url=MOCK + "/v1", api_key="test", max_retries=0)
    lines = [line("a", "first"), line("b", "second [mock:batch-pending]")]
    data = "".join(json.dumps(item) + "\n" for item in lines).encode()
    uploaded = client.files.create(file=("batch.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelling = client.batches.cancel(batch.id)
    check(
        "openai batches.cancel",
        cancelling.status == "cancelling" and cancelling.cancelling_at is not None,
        [cancelling.status, cancelling.cancelling_at],
    )
    done = client.batches.retrieve(batch.id)
    counts = done.request_counts
    check(
        "openai batches.retrieve cancelled",
        done.status == "cancelled" and (counts.total, counts.completed, counts.failed) == (2, 1, 0),
        [done.status, counts.total, counts.completed, counts.failed],
    )
    output = [json.loads(text) for text in client.files.content(done.output_file_id).text.splitlines()]
    check("openai cancelled output file", [item["custom_id"] for item in output] == ["a"], output)
    errors = [json.loads(text) for text in client.files.content(done.error_file_id).text.splitlines()]
    check(
        "openai cancelled error file",
        [(item["custom_id"], item["error"]["code"]) for item in errors] == [("b", "batch_cancelled")],
        errors,
    )
    try:
        client.batches.cancel(batch.id)
        refused = None
    except openai.BadRequestError as error:
        refused = error.status_code
    check("openai batches.cancel of an ended batch", refused == 400, refused)


def anthropic_checks():
    client = anthropic.Anthropic(base_url=MOCK, api_key="test", max_retries=0)
    params = lambda prompt: {  # noqa: E731
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": prompt}],
    }
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "a", "params": params("first")},
            {"custom_id": "b", "params": params("second [mock:expired]")},
        ]
    )
    check("anthropic batches.create", batch.processing_status == "in_progress", batch.processing_status)
    client.messages.batches.retrieve(batch.id)
    ended = client.messages.batches.retrieve(batch.id)
    counts = ended.request_counts
    check(
        "anthropic batches.retrieve ended",
        ended.processing_status == "ended" and (counts.succeeded, counts.expired) == (1, 1),
        [ended.processing_status, counts.succeeded, counts.expired],
    )
    results = {item.custom_id: item.result for item in client.messages.batches.results(batch.id)}
    check(
        "anthropic batches.results",
        results["a"].type == "succeeded"
        and results["a"].message.content[0].text == "echo: first"
        and results["b"].type == "expired",
        {key: value.type for key, value in results.items()},
    )


def anthropic_cancel_checks():
    client = anthropic.Anthropic(base_url=MOCK, api_key="test", max_retries=0)
    params = lambda prompt: {  # noqa: E731
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": prompt}],
    }
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "a", "params": params("first")},
            {"custom_id": "b", "params": params("second [mock:batch-pending]")},
        ]
    )
    canceling = client.messages.batches.cancel(batch.id)
    check(
        "anthropic batches.cancel",
        canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None,
        [canceling.processing_status, str(canceling.cancel_initiated_at)],
    )
    ended = client.messages.batches.retrieve(batch.id)
    counts = ended.request_counts
    check(
        "anthropic batches.retrieve after cancel",
        ended.processing_status == "ended" and (counts.succeeded, counts.canceled) == (1, 1),
        [ended.processing_status, counts.succeeded, counts.canceled],
    )
    results = {item.custom_id: item.result.type for item in client.messages.batches.results(batch.id)}
    check("anthropic results after cancel", results == {"a": "succeeded", "b": "canceled"}, results)


openai_checks()
openai_cancel_checks()
anthropic_checks()
anthropic_cancel_checks()
check("all", True, "")
