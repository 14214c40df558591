#!/usr/bin/env python3
"""Call bridge_whoami on `SBX mcp` through the official Python MCP SDK, with the SDK's default
environment for the server (it keeps only HOME, LOGNAME, PATH, SHELL, TERM and USER).

    mcp_whoami.py SBX OUT.json
"""
import asyncio, json, sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    params = StdioServerParameters(command=sys.argv[1], args=["mcp"])  # env=None: the SDK's default
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("bridge_whoami", {})
            text = "".join(getattr(c, "text", "") for c in result.content)
            out = {"is_error": bool(getattr(result, "isError", False) or getattr(result, "is_error", False)), "text": text}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


asyncio.run(main())
