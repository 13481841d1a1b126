"""Runs the official `openai` Python SDK against a Tollgate gateway whose model answers like the
`mock` provider ("You said: <prompt>", forced tools called with {"prompt": <prompt>}, "The tool
returned: <result>" after a tool result).

    openai_client.py [--base-url URL] [--model NAME] SCENARIO...

URL is the gateway's root (default $TOLLGATE_BASE_URL; the SDK is pointed at URL/v1), NAME the
chat model (default $TOLLGATE_MODEL or "demo"). Each scenario asserts what the SDK parsed and
prints a one-line JSON summary; the first failure is printed to stderr and exits 1.
"""

import argparse
import json
import math
import os
import sys

import openai

PROMPT = "What is the weather in Paris?"
TOOL_RESULT = "18C and sunny"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"prompt": {"type": "string"}},
            "required": ["prompt"],
        },
    },
}


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(actual, expected, what):
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def check_usage(usage, what):
    check(usage is not None, f"{what}: no usage reported")
    check(usage.prompt_tokens > 0, f"{what}: prompt_tokens {usage.prompt_tokens} is not > 0")
    check(
        usage.completion_tokens > 0,
        f"{what}: completion_tokens {usage.completion_tokens} is not > 0",
    )
    eq(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens,
        f"{what}: total_tokens",
    )
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}


def user(text=PROMPT):
    return [{"role": "user", "content": text}]


def scenario_chat(client, model):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=user())
    eq(raw.headers.get("x-tollgate-model"), model, "x-tollgate-model header")
    check(raw.headers.get("x-tollgate-deployment"), "no x-tollgate-deployment header")
    resp = raw.parse()
    eq(resp.object, "chat.completion", "object")
    check(resp.id, "empty id")
    check(isinstance(resp.model, str) and resp.model, f"bad model {resp.model!r}")
    eq(len(resp.choices), 1, "number of choices")
    choice = resp.choices[0]
    eq(choice.index, 0, "choice index")
    eq(choice.message.role, "assistant", "message role")
    eq(choice.message.content, f"You said: {PROMPT}", "message content")
    check(not choice.message.tool_calls, f"unexpected tool calls {choice.message.tool_calls!r}")
    eq(choice.finish_reason, "stop", "finish_reason")
    return {"content": choice.message.content, "usage": check_usage(resp.usage, "usage")}


def scenario_stream(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=user(),
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks, ids = "", None, None, 0, set()
    for chunk in stream:
        chunks += 1
        eq(chunk.object, "chat.completion.chunk", "chunk object")
        ids.add(chunk.id)
        if chunk.usage is not None:
            check(usage is None, "usage reported in more than one chunk")
            usage = chunk.usage
        for choice in chunk.choices:
            eq(choice.index, 0, "chunk choice index")
            if choice.delta.content:
                text += choice.delta.content
            check(not choice.delta.tool_calls, f"unexpected tool call delta {choice.delta!r}")
            if choice.finish_reason is not None:
                check(finish is None, "finish_reason in more than one chunk")
                finish = choice.finish_reason
    eq(len(ids), 1, f"distinct chunk ids {ids!r}")
    eq(text, f"You said: {PROMPT}", "streamed text")
    eq(finish, "stop", "finish_reason")
    summary = check_usage(usage, "stream usage (stream_options.include_usage)")

    # The SDK's own accumulator (chat.completions.stream) must assemble the same completion.
    with client.chat.completions.stream(model=model, messages=user()) as helper:
        deltas = "".join(e.delta for e in helper if e.type == "content.delta")
        final = helper.get_final_completion()
    eq(deltas, f"You said: {PROMPT}", "content.delta events of chat.completions.stream")
    eq(final.choices[0].message.content, f"You said: {PROMPT}", "stream helper final content")
    eq(final.choices[0].finish_reason, "stop", "stream helper finish_reason")
    return {"content": text, "chunks": chunks, "usage": summary}


def tool_round_trip(client, model, call, stream):
    """Sends the tool's result back after `call`; returns the final text."""
    messages = user() + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT},
    ]
    if not stream:
        resp = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
        choice = resp.choices[0]
        eq(choice.finish_reason, "stop", "finish_reason after the tool result")
        check(not choice.message.tool_calls, "the tool was called again after its result")
        check_usage(resp.usage, "usage after the tool result")
        return choice.message.content
    text = ""
    for chunk in client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], stream=True
    ):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            check(not choice.delta.tool_calls, "the tool was called again after its result")
    return text


def scenario_tools(client, model):
    resp = client.chat.completions.create(
        model=model, messages=user(), tools=[WEATHER_TOOL], tool_choice="required"
    )
    choice = resp.choices[0]
    eq(choice.finish_reason, "tool_calls", "finish_reason")
    calls = choice.message.tool_calls
    check(calls, f"no tool_calls in {choice.message!r}")
    eq(len(calls), 1, "number of tool calls")
    call = calls[0]
    eq(call.type, "function", "tool call type")
    check(call.id, "empty tool call id")
    eq(call.function.name, "get_weather", "tool call name")
    try:
        args = json.loads(call.function.arguments)
    except ValueError as e:
        raise Fail(f"tool call arguments are not JSON: {call.function.arguments!r} ({e})")
    eq(args, {"prompt": PROMPT}, "tool call arguments")
    check_usage(resp.usage, "usage")
    final = tool_round_trip(
        client,
        model,
        {"id": call.id, "name": call.function.name, "arguments": call.function.arguments},
        stream=False,
    )
    eq(final, f"The tool returned: {TOOL_RESULT}", "answer after the tool result")
    return {"tool_call": {"id": call.id, "name": call.function.name, "arguments": args}, "final": final}


def scenario_stream_tools(client, model):
    named = {"type": "function", "function": {"name": "get_weather"}}
    calls, finish = {}, None
    for chunk in client.chat.completions.create(
        model=model, messages=user(), tools=[WEATHER_TOOL], tool_choice=named, stream=True
    ):
        for choice in chunk.choices:
            for d in choice.delta.tool_calls or []:
                check(d.index is not None, f"tool call delta without index: {d!r}")
                c = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                if d.id:
                    check(c["id"] in (None, d.id), f"tool call id changed mid-stream: {d!r}")
                    c["id"] = d.id
                if d.function is not None:
                    c["name"] += d.function.name or ""
                    c["arguments"] += d.function.arguments or ""
            if choice.finish_reason is not None:
                finish = choice.finish_reason
    eq(finish, "tool_calls", "finish_reason")
    eq(sorted(calls), [0], "tool call indexes")
    call = calls[0]
    check(call["id"], "no tool call id in the stream")
    eq(call["name"], "get_weather", "streamed tool call name")
    try:
        args = json.loads(call["arguments"])
    except ValueError as e:
        raise Fail(f"streamed tool call arguments are not JSON: {call['arguments']!r} ({e})")
    eq(args, {"prompt": PROMPT}, "streamed tool call arguments")

    # The SDK's own accumulator must assemble the same call.
    with client.chat.completions.stream(
        model=model, messages=user(), tools=[WEATHER_TOOL], tool_choice=named
    ) as helper:
        done = [e for e in helper if e.type == "tool_calls.function.arguments.done"]
        final = helper.get_final_completion()
    eq(len(done), 1, "tool_calls.function.arguments.done events")
    eq(done[0].name, "get_weather", "arguments.done name")
    eq(json.loads(done[0].arguments), {"prompt": PROMPT}, "arguments.done arguments")
    fcalls = final.choices[0].message.tool_calls or []
    eq(len(fcalls), 1, "stream helper tool calls")
    eq(fcalls[0].function.name, "get_weather", "stream helper tool call name")

    text = tool_round_trip(client, model, call, stream=True)
    eq(text, f"The tool returned: {TOOL_RESULT}", "streamed answer after the tool result")
    return {"tool_call": {"id": call["id"], "name": call["name"], "arguments": args}, "final": text}


def scenario_models(client, model):
    page = client.models.list()
    ids = [m.id for m in page]
    check(model in ids, f"model {model!r} not in {ids!r}")
    for m in page.data:
        eq(m.object, "model", f"object of model {m.id}")
        check(isinstance(m.created, int), f"model {m.id}: created {m.created!r} is not an int")
        check(isinstance(m.owned_by, str), f"model {m.id}: owned_by {m.owned_by!r} is not a str")
    return {"models": ids}


def scenario_embeddings(client, model):
    inputs = ["hello", "hello", "world"]
    # No encoding_format: the SDK asks for base64 and decodes it into floats itself.
    resp = client.embeddings.create(model=model, input=inputs)
    eq(resp.object, "list", "object")
    eq(len(resp.data), 3, "number of embeddings")
    vecs = []
    for i, item in enumerate(resp.data):
        eq(item.index, i, "embedding index")
        eq(item.object, "embedding", "embedding object")
        v = item.embedding
        check(isinstance(v, list) and v, f"embedding {i} is not a non-empty list: {v!r}")
        check(all(isinstance(x, float) for x in v), f"embedding {i} holds non-floats: {v!r}")
        norm = math.sqrt(sum(x * x for x in v))
        check(abs(norm - 1.0) < 1e-3, f"embedding {i} has norm {norm}, expected a unit vector")
        vecs.append(v)
    eq(len({len(v) for v in vecs}), 1, "embedding lengths all equal")
    eq(vecs[0], vecs[1], "embeddings of the same text")
    check(vecs[0] != vecs[2], "different texts got the same embedding")
    check(resp.usage.prompt_tokens > 0, f"prompt_tokens {resp.usage.prompt_tokens} is not > 0")

    floats = client.embeddings.create(model=model, input=inputs[:1], encoding_format="float")
    check(
        all(abs(a - b) < 1e-6 for a, b in zip(floats.data[0].embedding, vecs[0], strict=True)),
        "encoding_format=float and base64 give different vectors",
    )
    return {"dimensions": len(vecs[0]), "usage": {"prompt_tokens": resp.usage.prompt_tokens}}


SCENARIOS = {
    "chat": scenario_chat,
    "stream": scenario_stream,
    "tools": scenario_tools,
    "stream_tools": scenario_stream_tools,
    "models": scenario_models,
    "embeddings": scenario_embeddings,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base-url", default=os.environ.get("TOLLGATE_BASE_URL"))
    p.add_argument("--model", default=os.environ.get("TOLLGATE_MODEL", "demo"))
    p.add_argument("--embedding-model", default=os.environ.get("TOLLGATE_EMBEDDING_MODEL"))
    p.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS) + ["all"])
    a = p.parse_args()
    if not a.base_url:
        p.error("no gateway URL: pass --base-url or set TOLLGATE_BASE_URL")
    client = openai.OpenAI(
        base_url=a.base_url.rstrip("/") + "/v1",
        api_key="sk-tollgate-test",
        max_retries=0,
        timeout=15.0,
    )
    names = list(SCENARIOS) if "all" in a.scenarios else a.scenarios
    for name in names:
        model = (a.embedding_model or a.model) if name == "embeddings" else a.model
        try:
            summary = SCENARIOS[name](client, model)
        except Fail as e:
            sys.exit(f"FAIL openai {openai.__version__} {name}: {e}")
        except openai.APIStatusError as e:
            sys.exit(
                f"FAIL openai {openai.__version__} {name}: HTTP {e.status_code} from "
                f"{e.request.method} {e.request.url}: {e.response.text}"
            )
        except openai.APIError as e:
            sys.exit(f"FAIL openai {openai.__version__} {name}: {type(e).__name__}: {e!r}")
        print(json.dumps({"sdk": "openai", "version": openai.__version__, "scenario": name, **summary}))


if __name__ == "__main__":
    main()
