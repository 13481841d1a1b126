"""An upstream MCP server for tests/it/mcp_proxy.rs, written with the official `mcp` Python SDK
(`MCPServer`, the SDK 2 name of FastMCP) and served over Streamable HTTP on `--port`.

Tools: `echo` (its text back), `whoami` (the Authorization header it received, to show the
gateway injected it), `hidden` (left out by the gateway's allow-list), `sleep` (answers after
`seconds`, for timeouts) and `die` (the process exits mid-call, for a broken connection).
"""

import argparse
import os

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("upstream")


@server.tool()
def echo(text: str) -> str:
    """Echoes the text."""
    return text


@server.tool()
def whoami(ctx: Context) -> str:
    """The Authorization header this call came with."""
    return (ctx.headers or {}).get("authorization", "<none>")


@server.tool()
def hidden() -> str:
    """Never offered through the gateway."""
    return "hidden"


@server.tool()
async def sleep(seconds: float) -> str:
    """Answers after `seconds`."""
    await anyio.sleep(seconds)
    return "slept"


@server.tool()
def die() -> str:
    """Ends the process in the middle of the call."""
    os._exit(3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    server.run("streamable-http", host="127.0.0.1", port=a.port, streamable_http_path="/mcp")


if __name__ == "__main__":
    main()
