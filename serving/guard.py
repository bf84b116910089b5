"""An ASGI middleware in front of every route: optional bearer-token authentication and request body limits.

It runs before BentoML parses anything, so an oversized upload is refused with a 413 without being parsed or
spooled to disk, and an unauthenticated caller learns nothing but "401". Bodies of POST requests are read here
(at most the route's limit, so memory per request is bounded) and replayed to the app. File routes take
multipart/form-data with a real file part only: BentoML downloads a URL given in place of a file, which a public
service should not do on a client's behalf.

The token comes from ``EMOTIONTHINKER_API_TOKEN``; unset, authentication is off, which is meant for a service
bound to loopback (``--host 127.0.0.1``). The probes (/healthz, /livez, /readyz) and the static page (/ui) stay
open, so that an orchestrator and a browser can reach them; the page sends the token the user types in.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)

OPEN_PATHS = ("/healthz", "/livez", "/readyz")
OPEN_PREFIXES = ("/ui",)
FILE_FIELD = "audio"


def form_problem(body: bytes, content_type: bytes) -> tuple[str, str, str] | None:
    r"""What is wrong with a multipart body for a file route, as (field, reason, message), or None.

    BentoML downloads a URL given in place of a file part, and answers a 500 for a binary part under another name
    (it parses every non-file part as JSON text), so the form is checked here: exactly one part named ``audio``,
    and it is a file; every other part is a UTF-8 text field.

    >>> form = b'--b\r\nContent-Disposition: form-data; name="audio"; filename="x"\r\n\r\nRIFF\r\n--b--\r\n'
    >>> form_problem(form, b"multipart/form-data; boundary=b") is None
    True
    >>> form_problem(form.replace(b'; filename="x"', b""), b"multipart/form-data; boundary=b")[:2]
    ('audio', 'not_a_file')
    >>> form_problem(form.replace(b'"audio"', b'"other"'), b"multipart/form-data; boundary=b")[2][:28]
    'other: unexpected file part;'
    """
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        return "body", "bad_form", "the multipart body has no boundary in its Content-Type; let the client build it"
    delimiter = b"--" + boundary
    audio_parts = 0
    at = body.find(delimiter)
    while at >= 0:
        start = at + len(delimiter)
        if body[start : start + 2] == b"--":  # the closing delimiter
            break
        head_end = body.find(b"\r\n\r\n", start)
        if head_end < 0:
            return "body", "bad_form", "the multipart body is truncated (a part without the end of its headers)"
        nxt = body.find(b"\r\n" + delimiter, head_end + 4)
        value = body[head_end + 4 : nxt if nxt >= 0 else len(body)]
        disposition = b""
        for line in body[start:head_end].split(b"\r\n"):
            key, _, rest = line.partition(b":")
            if key.strip().lower() == b"content-disposition":
                disposition = rest.strip()
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode(errors="replace")
        is_file = b"filename" in options
        if name == FILE_FIELD:
            audio_parts += 1
            if not is_file:
                example = f"curl -F {FILE_FIELD}=@clip.wav ..."
                message = f"{FILE_FIELD}: sent as a text field; send the clip itself as a file part ({example})"
                return FILE_FIELD, "not_a_file", message + ". URLs are not fetched"
        elif is_file:
            return name, "bad_form", f"{name}: unexpected file part; only '{FILE_FIELD}' takes a file"
        else:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return name, "bad_form", f"{name}: the option is not UTF-8 text; send it as a text field"
        at = nxt + 2 if nxt >= 0 else -1
    if audio_parts != 1:
        found = "missing" if audio_parts == 0 else f"{audio_parts} file parts"
        message = f"{FILE_FIELD}: {found}; send exactly one clip as a file part named '{FILE_FIELD}'"
        return FILE_FIELD, "bad_form", message + f" (curl -F {FILE_FIELD}=@clip.wav ...)"
    return None


async def _reply(send: Callable, status: int, body: dict, headers: Mapping[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MB" if n >= 10_240 else f"{n} bytes"


class Guard:
    """``token``: the bearer token or None; ``limits``: route -> most body bytes; ``default_limit`` for others."""

    def __init__(self, app, token: str | None = None, limits: Mapping[str, int] | None = None,
                 default_limit: int = 1024 * 1024, file_routes: tuple[str, ...] = ("/analyze",)):  # fmt: skip
        self.app = app
        self.token = token.encode() if token else None
        self.limits = dict(limits or {})
        self.default_limit = default_limit
        self.file_routes = file_routes

    def _is_open(self, method: str, path: str) -> bool:
        if method not in ("GET", "HEAD"):
            return False
        return path in OPEN_PATHS or any(path == p or path.startswith(p + "/") for p in OPEN_PREFIXES)

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for key, value in headers:
            if key == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self.token)
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        headers = scope.get("headers") or []
        if self.token is not None and not self._is_open(method, path) and not self._authorised(headers):
            logger.info("refused %s %s: missing or wrong bearer token", method, path)
            return await _reply(
                send,
                401,
                {"error": "this service requires 'Authorization: Bearer <token>' (the EMOTIONTHINKER_API_TOKEN of "
                          "the server); the header is missing or the token is wrong", "reason": "unauthorized"},
                {"WWW-Authenticate": 'Bearer realm="emotionthinker"'},
            )  # fmt: skip
        if method not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)

        if path in self.file_routes:
            kind = next((v for k, v in headers if k == b"content-type"), b"").split(b";")[0].strip().lower()
            if kind != b"multipart/form-data":
                # BentoML would read a urlencoded or JSON 'audio' value as a URL and download it
                return await _reply(
                    send,
                    415,
                    {"error": f"{path}: the body is {kind.decode(errors='replace') or 'untyped'}; send "
                              "multipart/form-data with the clip as a file part named 'audio' "
                              "(curl -F audio=@clip.wav ...)", "reason": "not_multipart", "input": "body"},
                )  # fmt: skip
        limit = self.limits.get(path, self.default_limit)
        declared = next((v for k, v in headers if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._too_large(send, int(declared), limit, path)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await self._too_large(send, size, limit, path, at_least=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if path in self.file_routes:
            content_type = next((v for k, v in headers if k == b"content-type"), b"")
            if problem := form_problem(body, content_type):
                field, reason, message = problem
                return await _reply(send, 400, {"error": message, "reason": reason, "input": field})
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _too_large(self, send, size: int, limit: int, path: str, at_least: bool = False):
        logger.info("refused a %s body of %s%d bytes (limit %d)", path, ">" if at_least else "", size, limit)
        return await _reply(
            send,
            413,
            {"error": f"request body: {'more than ' if at_least else ''}{_mb(size)}; {path} accepts at most "
                      f"{_mb(limit)}. Fix: send a shorter clip, or a compressed one (flac, mp3, ogg)",
             "reason": "too_large", "input": "audio" if path in self.file_routes else "body"},
            {"Connection": "close"},
        )  # fmt: skip
