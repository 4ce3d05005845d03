#!/usr/bin/env python3
"""A local stand-in for the remote LLM APIs (the only test double of the
suite): it speaks the OpenAI Chat Completions and the Anthropic Messages wire
formats with scripted replies, and records every request so tests can assert
what was sent.

    python3 tests/py/llm_server.py --port PORT      (prints "llm_server_ready port=PORT")

Control endpoints (JSON):
    POST /_script    {"actions": [ACTION, ...], "default": ACTION}  queue replies (FIFO)
    GET  /_requests  [{"path", "headers", "body"}, ...]              everything recorded
    POST /_reset     clear the queue and the records

ACTION:
    {"kind": "reply", "text": "...", "tokens_in": 10, "tokens_out": 20, "delay": 0,
     "finish": "length", "null_content": false}
        texts: [...] the choices' texts of a request with "n" (OpenAI, not streamed)
        finish: "stop" (default) or "length" (a cut-off reply: OpenAI finish_reason
        "length", Anthropic stop_reason "max_tokens"); null_content: OpenAI content null.
        A request with "stream": true gets Server-Sent Events in the provider's format
        (the text in chunks of "chunk" characters, default 8), unless "nostream": true;
        "stall_after": N sends N chunks then stops sending (the connection stays open
        for "stall" seconds, default 30); "cut_after": N sends N chunks then closes.
    {"kind": "status", "status": 429, "retry_after": "1", "body": {...}}   (any status)
    {"kind": "malformed"}        200 with a body that is not JSON
    {"kind": "truncated"}        200, Content-Length larger than what is sent, then close
    {"kind": "missing"}          200, valid JSON without the text field
    GET /v1/models (also /models)  {"data": [{"id": M}, ...]} of STATE "models"
                                 (POST /_script {"models": [...]} sets them; default test-model)
    --tls-cert FILE --tls-key FILE  serve HTTPS (a private CA's certificate)
The reply format follows the path: /chat/completions (OpenAI) or /v1/messages
(Anthropic). With an empty queue the "default" action answers (a fixed reply).

Per-request scripting (concurrent callers): an ACTION may carry "match": a
string, or a list of strings that must all occur in the raw request body. A
request takes the first queued action whose match fits (actions without
"match" fit every request), else the first fitting entry of "rules" (a list
of ACTIONs given to /_script that are never used up), else the default.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"queue": [], "default": {"kind": "reply", "text": "no script", "tokens_in": 1,
                                  "tokens_out": 1}, "requests": [], "rules": [],
         "models": ["test-model"]}


def fits(action, text):
    want = action.get("match")
    if want is None:
        return True
    return all(w in text for w in ([want] if isinstance(want, str) else want))


def pick(text):
    """The action for one request (call with LOCK held)."""
    for i, action in enumerate(STATE["queue"]):
        if fits(action, text):
            return STATE["queue"].pop(i)
    for action in STATE["rules"]:
        if fits(action, text):
            return action
    return STATE["default"]


def openai_body(text, tin, tout, finish="stop", n=1, texts=None):
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": i, "finish_reason": finish,
                         "message": {"role": "assistant",
                                     "content": texts[i % len(texts)] if texts else text}}
                        for i in range(n)],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                      "total_tokens": tin + tout}}


def anthropic_body(text, tin, tout, finish="stop"):
    return {"id": "msg_test", "type": "message", "role": "assistant", "model": "test-model",
            "content": [{"type": "text", "text": text}] if text is not None else [],
            "stop_reason": "max_tokens" if finish == "length" else "end_turn",
            "usage": {"input_tokens": tin, "output_tokens": tout}}


def openai_events(text, tin, tout, finish, chunk):
    """The SSE data payloads of a streamed OpenAI reply."""
    yield {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    for i in range(0, len(text or ""), chunk):
        yield {"choices": [{"index": 0, "delta": {"content": text[i:i + chunk]}}]}
    yield {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    yield {"choices": [], "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                                    "total_tokens": tin + tout}}
    yield "[DONE]"


def anthropic_events(text, tin, tout, finish, chunk):
    yield "message_start", {"type": "message_start", "message": {
        "id": "msg_test", "type": "message", "role": "assistant", "content": [],
        "usage": {"input_tokens": tin, "output_tokens": 1}}}
    yield "content_block_start", {"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}
    for i in range(0, len(text or ""), chunk):
        yield "content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": text[i:i + chunk]}}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta", "delta": {
        "stop_reason": "max_tokens" if finish == "length" else "end_turn"},
        "usage": {"output_tokens": tout}}
    yield "message_stop", {"type": "message_stop"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _read(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                self._send(200, STATE["requests"])
        elif self.path.rstrip("/").endswith("/models"):
            with LOCK:
                STATE["requests"].append({"path": self.path, "method": "GET",
                                          "headers": dict(self.headers.items()), "body": None,
                                          "t": time.time()})
                models = list(STATE["models"])
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        raw = self._read()
        if self.path == "/_script":
            spec = json.loads(raw or b"{}")
            with LOCK:
                STATE["queue"].extend(spec.get("actions", []))
                STATE["rules"].extend(spec.get("rules", []))
                if "default" in spec:
                    STATE["default"] = spec["default"]
                if "models" in spec:
                    STATE["models"] = spec["models"]
            return self._send(200, {"ok": True})
        if self.path == "/_reset":
            with LOCK:
                STATE["queue"].clear()
                STATE["requests"].clear()
                STATE["rules"].clear()
                STATE["models"] = ["test-model"]
            return self._send(200, {"ok": True})
        anthropic = self.path.endswith("/v1/messages")
        if not (anthropic or self.path.endswith("/chat/completions")):
            return self._send(404, {"error": {"message": "unknown path " + self.path}})
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with LOCK:
            STATE["requests"].append({"path": self.path, "headers": dict(self.headers.items()),
                                      "body": body, "t": time.time()})
            action = pick(raw.decode(errors="replace"))
        time.sleep(float(action.get("delay", 0)))
        kind = action.get("kind", "reply")
        if kind == "reply":
            text = None if action.get("null_content") else action.get("text", "")
            tin, tout = action.get("tokens_in", 11), action.get("tokens_out", 22)
            finish = action.get("finish", "stop")
            if isinstance(body, dict) and body.get("stream") and not action.get("nostream"):
                return self._stream(anthropic, action, text, tin, tout, finish)
            if anthropic:
                return self._send(200, anthropic_body(text, tin, tout, finish))
            n = body.get("n", 1) if isinstance(body, dict) else 1
            return self._send(200, openai_body(text, tin, tout, finish, n, action.get("texts")))
        if kind == "status":
            headers = {}
            if "retry_after" in action:
                headers["Retry-After"] = str(action["retry_after"])
            err = action.get("body", {"error": {"message": f"scripted status {action['status']}",
                                                "type": "server_error"}})
            return self._send(int(action["status"]), err, headers)
        if kind == "malformed":
            return self._send(200, b'{"choices": [{"message": {"content": "x"}  oops not json')
        if kind == "missing":
            return self._send(200, {"id": "x", "usage": {}})
        if kind == "truncated":
            full = json.dumps(openai_body("```python\nx = 1\n```", 1, 1)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.wfile.write(full[: len(full) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(500, {"error": {"message": "unknown scripted kind"}})


    def _stream(self, anthropic, action, text, tin, tout, finish):
        """A streamed reply: close-delimited SSE, optionally stalled or cut."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = int(action.get("chunk", 8))
        events = (anthropic_events if anthropic else openai_events)(text, tin, tout, finish, chunk)
        stall, cut = action.get("stall_after"), action.get("cut_after")
        for i, ev in enumerate(events):
            if stall is not None and i >= int(stall):
                self.wfile.flush()
                time.sleep(float(action.get("stall", 30)))
                return None
            if cut is not None and i >= int(cut):
                self.wfile.flush()
                return None
            if anthropic:
                name, data = ev
                frame = f"event: {name}\ndata: {json.dumps(data)}\n\n"
            else:
                frame = "data: " + (ev if isinstance(ev, str) else json.dumps(ev)) + "\n\n"
            self.wfile.write(frame.encode())
            self.wfile.flush()
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"llm_server_ready port={args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
