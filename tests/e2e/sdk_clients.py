"""End-to-end check of the triage gateway with the official OpenAI and Anthropic Python SDKs
(Chat Completions, Responses and Messages).

Run by `crates/triage-cli/tests/it/gateway.rs` against `triage serve` in front of
`triage mock-upstream` (which echoes the last user message). Usage:

    TRIAGE_GATEWAY_URL=http://127.0.0.1:PORT python3 tests/e2e/sdk_clients.py

Exits non-zero on the first failed check; prints one JSON line per check otherwise.
"""

import json
import os
import sys
from decimal import Decimal

import anthropic
import openai

GATEWAY = os.environ["TRIAGE_GATEWAY_URL"].rstrip("/")
KEY = os.environ.get("TRIAGE_GATEWAY_KEY", "unused")


def check(name, condition, detail):
    print(json.dumps({"check": name, "ok": bool(condition), "detail": detail}), flush=True)
    if not condition:
        sys.exit(1)


def stream_figures_ok(figures, input_tokens, output_tokens, input_name, output_name):
    """triage's figures in a stream's last usage event: a priced, exact cost, the attempts, and
    token totals equal to the event's usage (one attempt here)."""
    if not isinstance(figures, dict):
        return False
    try:
        cost = Decimal(figures["cost_usd"])
    except Exception:
        return False
    return (
        cost > 0
        and figures["attempts"] == 1
        and figures["request_id"]
        and figures["model"]
        and figures["usage"][input_name] == input_tokens
        and figures["usage"][output_name] == output_tokens
    )


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
    pieces, finish, usage, figures, usage_choices = [], None, None, None, None
    for chunk in stream:
        if chunk.usage is not None:
            # The final chunk (stream_options.include_usage): no choices, the usage, and
            # triage's figures as an extra field the SDK keeps.
            usage = chunk.usage
            usage_choices = chunk.choices
            figures = (chunk.model_extra or {}).get("x_triage")
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    streamed = "".join(pieces)
    check("openai stream", streamed == "echo: Translate 'good morning' into French", streamed)
    check("openai stream finish", finish == "stop", finish)
    check(
        "openai stream usage",
        usage is not None
        and usage_choices == []
        and usage.prompt_tokens > 0
        and usage.completion_tokens > 0
        and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
        str(usage),
    )
    check("openai stream cost", stream_figures_ok(figures, usage.prompt_tokens, usage.completion_tokens,
                                                  "prompt_tokens", "completion_tokens"), figures)

    # A client's reasoning effort reaches a reasoning model and is left off for a model that
    # would refuse it (the mock answers 400 to `reasoning_effort` on GPT-4 models, as OpenAI
    # does): one attempt each.
    for model in ["gpt-5.4-mini", "gpt-4o-mini"]:
        raw = client.chat.completions.with_raw_response.create(
            model=model,
            reasoning_effort="high",
            messages=[{"role": "user", "content": "Think it through: is 91 prime?"}],
        )
        text = raw.parse().choices[0].message.content
        check(f"openai reasoning_effort on {model}",
              text == "echo: Think it through: is 91 prime?" and raw.headers["x-triage-attempts"] == "1",
              dict(raw.headers))

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        check("openai unknown model", False, "no error raised")
    except openai.NotFoundError as error:
        check("openai unknown model", error.status_code == 404 and "auto" in str(error), str(error))


def responses_checks():
    """The Responses API: a response, a stream, a function call (whole and streamed) and the
    turn that sends its output back, and a refused `previous_response_id`."""
    client = openai.OpenAI(base_url=GATEWAY + "/v1", api_key=KEY, max_retries=0)

    raw = client.responses.with_raw_response.create(
        model="auto",
        instructions="Answer briefly.",
        input="What is the capital of Spain?",
    )
    response = raw.parse()
    check("responses create", response.output_text == "echo: What is the capital of Spain?",
          response.model_dump(mode="json"))
    check(
        "responses usage",
        response.status == "completed"
        and response.usage.input_tokens > 0
        and response.usage.output_tokens > 0
        and response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens,
        response.usage.model_dump(),
    )
    check(
        "responses headers",
        raw.headers.get("x-triage-model") == response.model
        and raw.headers.get("x-triage-cost-usd")
        and raw.headers.get("x-triage-attempts") == "1",
        dict(raw.headers),
    )

    deltas = []
    with client.responses.stream(
        model="auto",
        input=[{"role": "user", "content": "Translate 'thank you' into German"}],
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    streamed = "".join(deltas)
    check(
        "responses stream",
        streamed == "echo: Translate 'thank you' into German" and final.output_text == streamed,
        final.model_dump(mode="json"),
    )
    # triage's figures ride in the last event's response, which the helper hands back.
    figures = (final.model_extra or {}).get("x_triage")
    check("responses stream cost", stream_figures_ok(figures, final.usage.input_tokens, final.usage.output_tokens,
                                                     "input_tokens", "output_tokens"), figures)

    tools = [{
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]
    question = "What is the weather in Paris? [mock:tool]"
    first = client.responses.create(model="auto", input=question, tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    check(
        "responses function call",
        len(calls) == 1 and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"},
        first.model_dump(mode="json"),
    )
    with client.responses.stream(model="auto", input=question, tools=tools) as stream:
        streamed_calls = [item for item in stream.get_final_response().output if item.type == "function_call"]
    check(
        "responses stream function call",
        len(streamed_calls) == 1 and json.loads(streamed_calls[0].arguments) == {"city": "Paris"},
        [item.model_dump(mode="json") for item in streamed_calls],
    )
    follow = client.responses.create(
        model="auto",
        tools=tools,
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            calls[0].model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"},
        ],
    )
    check("responses function output", follow.output_text == "echo: What is the weather in Paris?",
          follow.model_dump(mode="json"))

    reasoned = client.responses.create(model="gpt-4o-mini", input="Is 91 prime?", reasoning={"effort": "low"})
    check("responses reasoning effort", reasoned.output_text == "echo: Is 91 prime?"
          and reasoned.reasoning.effort == "low", reasoned.model_dump(mode="json"))

    try:
        client.responses.create(model="auto", input="And then?", previous_response_id=response.id)
        check("responses previous_response_id", False, "no error raised")
    except openai.BadRequestError as error:
        check("responses previous_response_id", error.status_code == 400 and "input" in str(error), str(error))


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

    pieces, delta = [], None
    with client.messages.stream(
        model="auto",
        max_tokens=100,
        messages=[{"role": "user", "content": "Summarise: the cat sat on the mat."}],
    ) as stream:
        for event in stream:
            if event.type == "text":
                pieces.append(event.text)
            elif event.type == "message_delta":
                delta = event
        final = stream.get_final_message()
    streamed = "".join(pieces)
    check("anthropic stream", streamed == "echo: Summarise: the cat sat on the mat.", streamed)
    # The SDK takes the final usage from `message_delta` (cumulative counts overwrite
    # `message_start`'s).
    check(
        "anthropic stream final",
        final.stop_reason == "end_turn"
        and delta is not None
        and final.usage.output_tokens == delta.usage.output_tokens > 0
        and final.usage.input_tokens == delta.usage.input_tokens > 0,
        final.model_dump(mode="json"),
    )
    figures = (delta.model_extra or {}).get("x_triage") if delta is not None else None
    check("anthropic stream cost", stream_figures_ok(figures, final.usage.input_tokens, final.usage.output_tokens,
                                                     "input_tokens", "output_tokens"), figures)

    counted = client.messages.count_tokens(
        model="claude-haiku-4-5",
        system="Answer briefly.",
        messages=[{"role": "user", "content": "What is the capital of Italy?"}],
    )
    check("anthropic count_tokens", counted.input_tokens > 0, counted.model_dump())

    # The beta namespace sends `anthropic-beta` (and `?beta=true`); the gateway passes the
    # header on to Anthropic models.
    beta = client.beta.messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        betas=["token-efficient-tools-2025-02-19"],
        messages=[{"role": "user", "content": "Say hi"}],
    )
    check("anthropic beta message", beta.content[0].text == "echo: Say hi", beta.model_dump(mode="json"))

    thinking_checks(client)

    try:
        client.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        check("anthropic unknown model", False, "no error raised")
    except anthropic.NotFoundError as error:
        check("anthropic unknown model", error.status_code == 404, str(error))


def thinking_checks(client):
    """Extended thinking through the gateway: the signed block comes first, streamed or not,
    and a tool-use turn that sends it back is accepted (the mock verifies signatures as
    Anthropic does), while an altered one is refused."""
    thinking = {"type": "enabled", "budget_tokens": 1024}
    question = {"role": "user", "content": "What is 6 x 7?"}
    first = client.messages.create(
        model="claude-haiku-4-5", max_tokens=2048, thinking=thinking, messages=[question]
    )
    check(
        "anthropic thinking",
        [block.type for block in first.content] == ["thinking", "text"]
        and first.content[0].thinking == "The user asks: What is 6 x 7?"
        and first.content[0].signature.startswith("mocksig_"),
        first.model_dump(mode="json"),
    )
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=2048, thinking=thinking, messages=[question]
    ) as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_message()
    check(
        "anthropic thinking stream",
        streamed.content[0].model_dump() == first.content[0].model_dump()
        and "thinking" in kinds
        and "signature" in kinds
        and streamed.content[1].text == first.content[1].text,
        streamed.model_dump(mode="json"),
    )

    tools = [{
        "name": "calculator",
        "description": "Evaluates arithmetic.",
        "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}}},
    }]

    def continue_with(blocks):
        return client.messages.with_raw_response.create(
            model="claude-haiku-4-5",
            max_tokens=2048,
            thinking=thinking,
            tools=tools,
            messages=[
                question,
                {"role": "assistant", "content": [
                    *blocks,
                    {"type": "tool_use", "id": "toolu_1", "name": "calculator", "input": {"expression": "6*7"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
                    {"type": "text", "text": "Now give the answer."},
                ]},
            ],
        )

    follow = continue_with([block.model_dump() for block in first.content]).parse()
    check(
        "anthropic thinking round trip",
        follow.content[0].type == "thinking" and follow.content[1].text == "echo: Now give the answer.",
        follow.model_dump(mode="json"),
    )
    # Anthropic refuses an altered block (400); the gateway's fallback then answers on a model
    # of another provider, which takes no signed reasoning, and says so in its headers.
    altered = first.content[0].model_dump()
    altered["thinking"] += " (edited)"
    raw = continue_with([altered])
    check(
        "anthropic thinking altered",
        raw.headers["x-triage-attempts"] == "2" and not raw.headers["x-triage-model"].startswith("claude"),
        dict(raw.headers),
    )


if __name__ == "__main__":
    openai_checks()
    responses_checks()
    anthropic_checks()
    print(json.dumps({"check": "all", "ok": True}))
