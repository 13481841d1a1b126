"""The official `mcp` Python SDK as a client of the gateway's MCP endpoint (tests/it/mcp.rs).

Connects with the SDK's default settings (mode "auto": it probes `server/discover` and falls
back to the `initialize` handshake), authenticated with `--key`, then lists the tools and the
resources, reads every resource, makes the calls given as JSON in `--calls`
(`[{"name": ..., "arguments": {...}}]`) and prints one JSON summary on stdout. A JSON-RPC
error of a call is reported in the summary, not raised.
"""

import argparse
import asyncio
import json

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


async def run(url, key, calls):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    out = {}
    async with http:
        async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=15) as c:
            out["protocol"] = c.protocol_version
            info = c.server_info
            out["server"] = {"name": info.name, "version": info.version} if info else None
            caps = c.server_capabilities
            out["capabilities"] = {"tools": caps.tools is not None, "resources": caps.resources is not None}
            tools = await c.list_tools()
            out["tools"] = {t.name: {"description": t.description, "inputSchema": t.input_schema} for t in tools.tools}
            resources = await c.list_resources()
            out["resources"] = [str(r.uri) for r in resources.resources]
            out["read"] = {}
            for r in resources.resources:
                got = await c.read_resource(str(r.uri))
                out["read"][str(r.uri)] = json.loads(got.contents[0].text)
            out["calls"] = []
            for call in calls:
                try:
                    res = await c.call_tool(call["name"], call.get("arguments", {}))
                    out["calls"].append({
                        "isError": bool(res.is_error),
                        "text": "".join(getattr(b, "text", "") for b in res.content),
                    })
                except MCPError as e:
                    out["calls"].append({"rpcError": e.error.code, "message": e.error.message})
            await c.send_ping()
            out["ping"] = True
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--calls", default="[]")
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a.url, a.key, json.loads(a.calls)))))


if __name__ == "__main__":
    main()
