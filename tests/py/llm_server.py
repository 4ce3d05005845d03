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
    {"kind": "reply", "text": "...", "tokens_in": 10, "tokens_out": 20, "delay": 0}
    {"kind": "status", "status": 429, "retry_after": "1", "body": {...}}   (any status)
    {"kind": "malformed"}        200 with a body that is not JSON
    {"kind": "truncated"}        200, Content-Length larger than what is sent, then close
    {"kind": "missing"}          200, valid JSON without the text field
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
                                  "tokens_out": 1}, "requests": [], "rules": []}


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


def openai_body(text, tin, tout):
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                      "total_tokens": tin + tout}}


def anthropic_body(text, tin, tout):
    return {"id": "msg_test", "type": "message", "role": "assistant", "model": "test-model",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "usage": {"input_tokens": tin, "output_tokens": tout}}


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
            return self._send(200, {"ok": True})
        if self.path == "/_reset":
            with LOCK:
                STATE["queue"].clear()
                STATE["requests"].clear()
                STATE["rules"].clear()
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
            make = anthropic_body if anthropic else openai_body
            return self._send(200, make(action.get("text", ""), action.get("tokens_in", 11),
                                        action.get("tokens_out", 22)))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"llm_server_ready port={args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
