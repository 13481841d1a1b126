"""An upstream MCP server for tests/it/mcp_proxy.rs and tests/it/mcp_stdio.rs, written with the
official `mcp` Python SDK (`MCPServer`, the SDK 2 name of FastMCP) and served over Streamable
HTTP on `--port`, or over stdio with `--stdio` (the gateway then runs it as its child).

Tools: `echo` (its text back), `whoami` (the Authorization header it received, to show the
gateway injected it), `hidden` (left out by the gateway's allow-list), `sleep` (answers after
`seconds`, for timeouts) and `die` (the process exits mid-call, for a broken connection). For
stdio: `env_var` (a variable of its environment, to show the gateway injected it), `pid` (its
process id), `kill_self` (SIGKILL mid-call), `chatter` (a line on stderr) and `meet` (answers
once `n` calls are in flight together, to show they are).
"""

import argparse
import os
import signal
import sys

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


@server.tool()
def env_var(name: str) -> str:
    """A variable of this process's environment."""
    return os.environ.get(name, "<unset>")


@server.tool()
def pid() -> int:
    """This process's id."""
    return os.getpid()


@server.tool()
def kill_self() -> str:
    """SIGKILLs this process in the middle of the call."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@server.tool()
def chatter(text: str) -> str:
    """Writes `text` on stderr."""
    print(text, file=sys.stderr, flush=True)
    return "said"


_meeting = {"arrived": 0, "event": None}


@server.tool()
async def meet(n: int) -> str:
    """"met" once `n` calls of it are in flight together; "alone" if they are not within 5s."""
    if _meeting["event"] is None:
        _meeting["event"] = anyio.Event()
    _meeting["arrived"] += 1
    if _meeting["arrived"] >= n:
        _meeting["event"].set()
    with anyio.move_on_after(5):
        await _meeting["event"].wait()
        return "met"
    return "alone"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int)
    p.add_argument("--stdio", action="store_true")
    a = p.parse_args()
    if a.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=a.port, streamable_http_path="/mcp")


if __name__ == "__main__":
    main()
