"""Runs the official `anthropic` Python SDK against a Tollgate gateway whose model answers like
the `mock` provider ("You said: <prompt>", forced tools called with {"prompt": <prompt>}, "The
tool returned: <result>" after a tool result).

    anthropic_client.py [--base-url URL] [--model NAME] SCENARIO...

URL is the gateway's root (default $TOLLGATE_BASE_URL; the SDK posts to URL/v1/messages), NAME
the model (default $TOLLGATE_MODEL or "demo"). Each scenario asserts what the SDK parsed and
prints a one-line JSON summary; the first failure is printed to stderr and exits 1.
"""

import argparse
import json
import os
import sys

import anthropic

PROMPT = "What is the weather in Paris?"
TOOL_RESULT = "18C and sunny"
MAX_TOKENS = 256
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"prompt": {"type": "string"}},
        "required": ["prompt"],
    },
}
# The core of an Anthropic message stream, in order (pings may come anywhere).
STREAM_SHAPE = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
]


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(actual, expected, what):
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def check_usage(usage, what):
    check(usage is not None, f"{what}: no usage reported")
    check(usage.input_tokens > 0, f"{what}: input_tokens {usage.input_tokens} is not > 0")
    check(usage.output_tokens > 0, f"{what}: output_tokens {usage.output_tokens} is not > 0")
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


def user(text=PROMPT):
    return [{"role": "user", "content": text}]


def check_message(msg, model, what):
    eq(msg.type, "message", f"{what}: type")
    eq(msg.role, "assistant", f"{what}: role")
    check(msg.id, f"{what}: empty id")
    check(isinstance(msg.model, str) and msg.model, f"{what}: bad model {msg.model!r}")


def raw_types(events):
    """The raw event types of a stream, without pings and the SDK's derived events."""
    return [e.type for e in events if e.type in STREAM_SHAPE]


def check_stream_shape(types, what):
    """message_start, then each block start / deltas / stop, then message_delta, message_stop."""
    core = [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]
    eq(core[:1], ["message_start"], f"{what}: first event")
    eq(core[-2:], ["message_delta", "message_stop"], f"{what}: last events")
    blocks = core[1:-2]
    check(blocks, f"{what}: no content blocks in {types!r}")
    for i in range(0, len(blocks), 3):
        eq(
            blocks[i : i + 3],
            ["content_block_start", "content_block_delta", "content_block_stop"],
            f"{what}: content block events in {types!r}",
        )


def scenario_chat(client, model):
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=MAX_TOKENS, messages=user()
    )
    eq(raw.headers.get("x-tollgate-model"), model, "x-tollgate-model header")
    check(raw.headers.get("x-tollgate-deployment"), "no x-tollgate-deployment header")
    msg = raw.parse()
    check_message(msg, model, "message")
    eq(len(msg.content), 1, f"number of content blocks in {msg.content!r}")
    eq(msg.content[0].type, "text", "content block type")
    eq(msg.content[0].text, f"You said: {PROMPT}", "text")
    eq(msg.stop_reason, "end_turn", "stop_reason")
    return {"text": msg.content[0].text, "usage": check_usage(msg.usage, "usage")}


def scenario_stream(client, model):
    events, text = [], ""
    with client.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=user()) as stream:
        for event in stream:
            events.append(event)
            if event.type == "text":
                text += event.text
        final = stream.get_final_message()
    check_stream_shape(raw_types(events), "stream")
    eq(text, f"You said: {PROMPT}", "text assembled from text events")
    check_message(final, model, "final message")
    eq([b.type for b in final.content], ["text"], "final message content block types")
    eq(final.content[0].text, f"You said: {PROMPT}", "final message text")
    eq(final.stop_reason, "end_turn", "final message stop_reason")
    usage = check_usage(final.usage, "final message usage")
    return {"text": text, "events": len(events), "usage": usage}


def tool_use_of(msg, what):
    uses = [b for b in msg.content if b.type == "tool_use"]
    eq(len(uses), 1, f"{what}: tool_use blocks in {msg.content!r}")
    use = uses[0]
    check(use.id, f"{what}: empty tool_use id")
    eq(use.name, "get_weather", f"{what}: tool name")
    eq(use.input, {"prompt": PROMPT}, f"{what}: tool input")
    eq(msg.stop_reason, "tool_use", f"{what}: stop_reason")
    return use


def with_tool_result(msg, use):
    return user() + [
        {"role": "assistant", "content": msg.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}],
        },
    ]


def scenario_tools(client, model):
    msg = client.messages.create(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=user(),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
    )
    check_message(msg, model, "message")
    use = tool_use_of(msg, "message")
    check_usage(msg.usage, "usage")

    final = client.messages.create(
        model=model, max_tokens=MAX_TOKENS, messages=with_tool_result(msg, use), tools=[WEATHER_TOOL]
    )
    eq([b.type for b in final.content], ["text"], "content after the tool result")
    eq(final.content[0].text, f"The tool returned: {TOOL_RESULT}", "answer after the tool result")
    eq(final.stop_reason, "end_turn", "stop_reason after the tool result")
    check_usage(final.usage, "usage after the tool result")
    return {
        "tool_use": {"id": use.id, "name": use.name, "input": use.input},
        "final": final.content[0].text,
    }


def scenario_stream_tools(client, model):
    events, partial = [], ""
    with client.messages.stream(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=user(),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        for event in stream:
            events.append(event)
            if event.type == "content_block_delta":
                check(
                    event.delta.type == "input_json_delta",
                    f"unexpected delta {event.delta!r} in a tool call",
                )
                partial += event.delta.partial_json
        msg = stream.get_final_message()
    check_stream_shape(raw_types(events), "stream")
    starts = [e for e in events if e.type == "content_block_start"]
    eq([s.content_block.type for s in starts], ["tool_use"], "content_block_start types")
    eq(starts[0].content_block.name, "get_weather", "content_block_start tool name")
    try:
        args = json.loads(partial)
    except ValueError as e:
        raise Fail(f"streamed input_json_delta pieces are not JSON: {partial!r} ({e})")
    eq(args, {"prompt": PROMPT}, "tool input assembled from input_json_delta")
    check_message(msg, model, "final message")
    use = tool_use_of(msg, "final message")
    eq(use.id, starts[0].content_block.id, "tool_use id of the final message")
    usage = check_usage(msg.usage, "final message usage")

    text = ""
    with client.messages.stream(
        model=model, max_tokens=MAX_TOKENS, messages=with_tool_result(msg, use), tools=[WEATHER_TOOL]
    ) as stream:
        for chunk in stream.text_stream:
            text += chunk
        final = stream.get_final_message()
    eq(text, f"The tool returned: {TOOL_RESULT}", "streamed answer after the tool result")
    eq(final.stop_reason, "end_turn", "stop_reason after the tool result")
    return {"tool_use": {"id": use.id, "name": use.name, "input": args}, "final": text, "usage": usage}


SCENARIOS = {
    "chat": scenario_chat,
    "stream": scenario_stream,
    "tools": scenario_tools,
    "stream_tools": scenario_stream_tools,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base-url", default=os.environ.get("TOLLGATE_BASE_URL"))
    p.add_argument("--model", default=os.environ.get("TOLLGATE_MODEL", "demo"))
    p.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS) + ["all"])
    a = p.parse_args()
    if not a.base_url:
        p.error("no gateway URL: pass --base-url or set TOLLGATE_BASE_URL")
    client = anthropic.Anthropic(
        base_url=a.base_url.rstrip("/"),
        api_key="sk-ant-tollgate-test",
        max_retries=0,
        timeout=15.0,
    )
    version = anthropic.__version__
    names = list(SCENARIOS) if "all" in a.scenarios else a.scenarios
    for name in names:
        try:
            summary = SCENARIOS[name](client, a.model)
        except Fail as e:
            sys.exit(f"FAIL anthropic {version} {name}: {e}")
        except anthropic.APIStatusError as e:
            sys.exit(
                f"FAIL anthropic {version} {name}: HTTP {e.status_code} from "
                f"{e.request.method} {e.request.url}: {e.response.text}"
            )
        except anthropic.APIError as e:
            sys.exit(f"FAIL anthropic {version} {name}: {type(e).__name__}: {e!r}")
        print(json.dumps({"sdk": "anthropic", "version": version, "scenario": name, **summary}))


if __name__ == "__main__":
    main()
