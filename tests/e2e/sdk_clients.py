"""End-to-end check of the triage gateway with the official OpenAI and Anthropic Python SDKs.

Run by `crates/triage-cli/tests/it/gateway.rs` against `triage serve` in front of
`triage mock-upstream` (which echoes the last user message). Usage:

    TRIAGE_GATEWAY_URL=http://127.0.0.1:PORT python3 tests/e2e/sdk_clients.py

Exits non-zero on the first failed check; prints one JSON line per check otherwise.
"""

import json
import os
import sys

import anthropic
import openai

GATEWAY = os.environ["TRIAGE_GATEWAY_URL"].rstrip("/")
KEY = os.environ.get("TRIAGE_GATEWAY_KEY", "unused")


def check(name, condition, detail):
    print(json.dumps({"check": name, "ok": bool(condition), "detail": detail}), flush=True)
    if not condition:
        sys.exit(1)


def openai_checks():
    client = openai.OpenAI(base_url=GATEWAY + "/v1", api_key=KEY, max_retries=0)

    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    completion = raw.parse()
    text = completion.choices[0].message.content
    check("openai chat", text == "echo: What is the capital of France?", text)
    check("openai usage", completion.usage.total_tokens > 0, completion.usage.model_dump())
    check(
        "openai headers",
        raw.headers.get("x-triage-model") == completion.model
        and raw.headers.get("x-triage-class")
        and raw.headers.get("x-triage-cost-usd")
        and raw.headers.get("x-triage-attempts"),
        dict(raw.headers),
    )

    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Translate 'good morning' into French"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    streamed = "".join(pieces)
    check("openai stream", streamed == "echo: Translate 'good morning' into French", streamed)
    check("openai stream finish", finish == "stop", finish)
    check("openai stream usage", usage is not None and usage.completion_tokens > 0, str(usage))

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        check("openai unknown model", False, "no error raised")
    except openai.NotFoundError as error:
        check("openai unknown model", error.status_code == 404 and "auto" in str(error), str(error))


def anthropic_checks():
    client = anthropic.Anthropic(base_url=GATEWAY, api_key=KEY, max_retries=0)

    message = client.messages.create(
        model="auto",
        max_tokens=100,
        system="Answer briefly.",
        messages=[{"role": "user", "content": "What is the capital of Italy?"}],
    )
    text = message.content[0].text
    check("anthropic message", text == "echo: What is the capital of Italy?", text)
    check("anthropic stop reason", message.stop_reason == "end_turn", message.stop_reason)
    check("anthropic usage", message.usage.output_tokens > 0, message.usage.model_dump())

    with client.messages.stream(
        model="auto",
        max_tokens=100,
        messages=[{"role": "user", "content": "Summarise: the cat sat on the mat."}],
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    check("anthropic stream", streamed == "echo: Summarise: the cat sat on the mat.", streamed)
    check("anthropic stream final", final.stop_reason == "end_turn" and final.usage.output_tokens > 0,
          final.model_dump(mode="json"))

    try:
        client.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        check("anthropic unknown model", False, "no error raised")
    except anthropic.NotFoundError as error:
        check("anthropic unknown model", error.status_code == 404, str(error))


if __name__ == "__main__":
    openai_checks()
    anthropic_checks()
    print(json.dumps({"check": "all", "ok": True}))
