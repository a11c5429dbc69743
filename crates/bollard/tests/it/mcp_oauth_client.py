"""The official Python MCP SDK's OAuth client against Bollard.

Usage: mcp_oauth_client.py MCP_URL ADMIN_KEY   (tests/it/oauth.rs)
       mcp_oauth_client.py MCP_URL --browser   (tests/browser/connect.test.mjs)

The SDK discovers everything from Bollard's 401, registers (RFC 7591), and sends a person to
the authorization URL. With an admin key, `Person` does in the console what a person does in
a browser (sign in, approve as the page's agent) and hands the SDK the code. With --browser,
`Browser` prints {"authorize": URL} on a line of its own for a real browser to open, and
waits at its loopback redirect URI (RFC 8252 section 7.3) for the browser to come back with
the code, as a desktop client does. Then the SDK lists and calls tools with its token, and
refreshes it once.

Prints one JSON object (the last line); exits non-zero with the error on stderr when anything
fails.
"""

import asyncio
import html
import json
import re
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:9/callback"


class Memory:
    """TokenStorage in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not m:
        raise RuntimeError(f"no field {name} on the page")
    return html.unescape(m.group(1))


class Person:
    def __init__(self, admin_key: str) -> None:
        self.key = admin_key
        self.result: AuthorizationCodeResult | None = None
        self.consent_page = ""

    async def redirect(self, url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False) as h:
            r = await h.get(url)
            if r.status_code != 303:
                raise RuntimeError(f"authorize answered {r.status_code}: {r.text}")
            consent = r.headers["location"]
            u = urlparse(consent)
            console = f"{u.scheme}://{u.netloc}"
            page = await h.get(f"{console}/sign-in")
            r = await h.post(
                f"{console}/sign-in",
                data={"csrf": hidden(page.text, "csrf"), "key": self.key, "next": "/agents"},
            )
            if r.status_code != 303:
                raise RuntimeError(f"sign-in answered {r.status_code}")
            page = await h.get(consent)
            self.consent_page = page.text
            r = await h.post(
                f"{console}/connect",
                data={
                    "csrf": hidden(page.text, "csrf"),
                    "ticket": hidden(page.text, "ticket"),
                    "agent": hidden(page.text, "agent"),
                    "name": "Python SDK",
                    "decision": "approve",
                },
            )
            if r.status_code != 303:
                raise RuntimeError(f"the consent form answered {r.status_code}: {r.text}")
            q = parse_qs(urlparse(r.headers["location"]).query)
            self.result = AuthorizationCodeResult(
                code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0]
            )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


class Browser:
    """A person in a real browser, which comes back to this loopback server with the code."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None
        self.result: asyncio.Future[AuthorizationCodeResult] = (
            asyncio.get_running_loop().create_future()
        )
        self.consent_page = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        parts = request.split()
        target = urlparse(parts[1].decode() if len(parts) > 1 else "/")
        body = b"Bollard sent you back to the assistant. You can close this window."
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            + body
        )
        await writer.drain()
        writer.close()
        if target.path != "/callback" or self.result.done():
            return  # the browser's favicon, or a second visit
        q = parse_qs(target.query)
        if "code" in q:
            self.result.set_result(
                AuthorizationCodeResult(
                    code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0]
                )
            )
        else:
            self.result.set_exception(RuntimeError(f"the authorization failed: {q}"))

    async def redirect(self, url: str) -> None:
        print(json.dumps({"authorize": url}), flush=True)

    async def callback(self) -> AuthorizationCodeResult:
        return await asyncio.wait_for(self.result, 120)


async def main(mcp_url: str, admin_key: str) -> dict:
    storage = Memory()
    if admin_key == "--browser":
        person: Person | Browser = Browser()
        await person.start()
        redirect_uri = person.redirect_uri
    else:
        person = Person(admin_key)
        redirect_uri = REDIRECT
    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )
    out: dict = {}
    http = httpx2.AsyncClient(auth=provider)
    async with Client(streamable_http_client(mcp_url, http_client=http)) as client:
        tools = await client.list_tools()
        out["tools"] = [t.name for t in tools.tools]
        called = await client.call_tool(
            "apollo_mixed_people_api_search", {"person_titles": ["cto"], "per_page": 2}
        )
        out["called"] = {
            "is_error": bool(called.is_error),
            "has_people": isinstance(called.structured_content, dict)
            and "people" in called.structured_content,
        }
        first = storage.tokens
        out["client_id"] = storage.client.client_id if storage.client else None
        # The access token runs out: the SDK refreshes it before the next call.
        provider.context.token_expiry_time = time.time() - 1
        again = await client.call_tool(
            "apollo_mixed_people_api_search", {"person_titles": ["cfo"], "per_page": 1}
        )
        out["called_after_refresh"] = not again.is_error
        out["refreshed"] = bool(
            first and storage.tokens and storage.tokens.refresh_token != first.refresh_token
        )
    out["consent_named_the_agent"] = "What Sales Agent can do" in person.consent_page
    return out


if __name__ == "__main__":
    try:
        result = asyncio.run(main(sys.argv[1], sys.argv[2]))
    except BaseException as e:  # the test prints whatever went wrong
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        raise
    print(json.dumps(result))
