"""The LLM client under faults the real servers cannot be made to show on
demand: streams that stall or are cut mid-way, cut-off replies with and
without text, providers' error bodies, a private CA. The role services run
as real processes behind a real broker, with a real redis-server; the
remote API is tests/py/llm_server.py (the suite's one test double). The
same behaviours against real server software: test_litellm.py."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from geakproc import BIN, ROOT, Proc, free_port, wait_until, http_ok  # noqa: E402
from test_llm_roles import (KERNEL, KEY, TASK, build_world, call, check_no_key,  # noqa: E402
                            close_world, control, fenced, recorded, script, start_role)

GEAK = os.path.join(BIN, "geak")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build_world(tmp_path_factory, "llmclient")
    yield w
    close_world(w)


def bodies(w):
    return [r["body"] for r in recorded(w) if r.get("method") != "GET"]


# ------------------------------------------------------------------ streaming

@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_replies_are_streamed_and_counted(world, provider):
    w = world
    _, svc = start_role(w, "generator", provider=provider)
    script(w, {"kind": "reply", "text": fenced(KERNEL), "tokens_in": 300, "tokens_out": 400, "chunk": 5})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and "@triton.jit" in out["code"], out
    u = out["usage"]
    assert (u["tokens_in"], u["tokens_out"], u["finish_reason"], u["truncated"]) == (300, 400, "stop", False)
    assert u["requests"] == 1 and not u["tokens_estimated"]
    body = bodies(w)[0]
    assert body["stream"] is True
    if provider == "openai":
        assert body["stream_options"] == {"include_usage": True}


def test_a_stalled_stream_ends_on_the_idle_timeout_and_is_retried(world):
    w = world
    proc, svc = start_role(w, "generator", env={"GEAK_LLM_IDLE_TIMEOUT_MS": "700",
                                                "GEAK_LLM_TIMEOUT_MS": "60000"})
    script(w, {"kind": "reply", "text": fenced(KERNEL), "stall_after": 3, "stall": 20},
           {"kind": "reply", "text": fenced(KERNEL), "tokens_in": 5, "tokens_out": 6})
    t0 = time.monotonic()
    out = call(w, "generate", svc, {"task": TASK})
    took = time.monotonic() - t0
    assert out["body"] == "role_reply" and "@triton.jit" in out["code"], out
    assert took < 10, took                        # not the 20 s stall, not the total timeout
    u = out["usage"]
    assert u["retries"] == 1 and u["requests"] == 2
    # the stalled try sent text before it stopped: its tokens are estimated and counted
    assert u["tokens_estimated"] and u["tokens_in"] > 5 and u["tokens_out"] > 6
    log = proc.log_text()
    assert "event=llm_retry" in log and "GEAK_LLM_IDLE_TIMEOUT_MS" in log


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_cut_mid_way_is_retried_from_scratch(world, provider):
    w = world
    _, svc = start_role(w, "generator", provider=provider)
    script(w, {"kind": "reply", "text": fenced(KERNEL), "cut_after": 4},
           {"kind": "reply", "text": fenced(KERNEL.replace("x + y", "x + y  # whole")),
            "tokens_in": 7, "tokens_out": 8})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and "# whole" in out["code"], out
    u = out["usage"]
    assert u["retries"] == 1 and u["requests"] == 2 and len(bodies(w)) == 2
    if provider == "anthropic":
        # message_start told the input tokens of the cut try: counted as reported
        assert u["tokens_in"] == 11 + 7 and not u["tokens_estimated"]
    else:
        assert u["tokens_in"] > 7 and u["tokens_estimated"]


def test_a_server_that_ignores_stream_still_works(world):
    w = world
    _, svc = start_role(w, "generator")
    script(w, {"kind": "reply", "text": fenced(KERNEL), "nostream": True, "tokens_in": 3, "tokens_out": 4})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["code"], out
    assert (out["usage"]["tokens_in"], out["usage"]["tokens_out"]) == (3, 4)


# ------------------------------------------------------------------ cut-off replies

@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_cut_off_reply_is_asked_again_with_a_larger_budget(world, provider):
    w = world
    proc, svc = start_role(w, "generator", provider=provider, env={"GEAK_LLM_MAX_TOKENS": "1000"})
    script(w, {"kind": "reply", "text": "```python\ndef vector_add(x, y):\n    out =", "finish": "length",
               "tokens_in": 100, "tokens_out": 1000},
           {"kind": "reply", "text": fenced(KERNEL), "tokens_in": 100, "tokens_out": 1500})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["error_class"] not in ("truncated", "syntax_error"), out
    assert "@triton.jit" in out["code"]
    caps = [b["max_tokens"] for b in bodies(w)]
    assert caps == [1000, 2000], caps
    u = out["usage"]
    assert (u["tokens_in"], u["tokens_out"], u["requests"], u["max_tokens"]) == (200, 2500, 2, 2000)
    assert u["finish_reason"] == "stop" and not u["truncated"]
    assert "event=llm_truncated_retry" in proc.log_text()


def test_cut_off_twice_is_the_truncated_class_with_every_token_counted(world):
    w = world
    _, svc = start_role(w, "generator", env={"GEAK_LLM_MAX_TOKENS": "1000", "GEAK_LLM_STREAM": "0"})
    cut = {"kind": "reply", "text": "```python\ndef vector_add(x, y):\n    out =", "finish": "length",
           "tokens_in": 1234, "tokens_out": 1000}
    script(w, cut, dict(cut, tokens_out=2000))
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["error_class"] == "truncated", out
    assert "cut off at its token cap (max_tokens=2000" in out["error_message"]
    assert "not evaluated" in out["error_message"] and out["reply_ref"]
    u = out["usage"]
    assert (u["tokens_in"], u["tokens_out"], u["requests"], u["truncated"]) == (2468, 3000, 2, True)
    assert u["finish_reason"] == "length"


def test_a_reasoning_model_that_spent_its_budget_thinking(world):
    # content null with finish_reason length: no retries of the same request,
    # the tokens the server billed are counted, the class says what happened
    w = world
    _, svc = start_role(w, "generator", env={"GEAK_LLM_MODEL": "o3-mini", "GEAK_LLM_STREAM": "0",
                                             "GEAK_LLM_TRUNCATION_RETRIES": "0"})
    script(w, {"kind": "reply", "null_content": True, "finish": "length",
               "tokens_in": 1234, "tokens_out": 4096})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["error_class"] == "truncated", out
    assert "it held no code" in out["error_message"]
    u = out["usage"]
    assert (u["tokens_in"], u["tokens_out"], u["requests"], u["retries"]) == (1234, 4096, 1, 0)
    body = bodies(w)[0]
    assert "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 32768


# ------------------------------------------------------------------ n samples

def test_samples_of_one_prompt_share_an_n_choice_call(world):
    w = world
    proc, svc = start_role(w, "generator", env={"GEAK_LLM_SAMPLES": "3", "GEAK_LLM_STREAM": "0"},
                           extra=("--threads", "3"))
    texts = [fenced(KERNEL.replace("x + y", f"x + y  # choice {i}")) for i in range(3)]
    script(w, {"kind": "reply", "texts": texts, "tokens_in": 100, "tokens_out": 900, "delay": 0.5})
    specs = []
    for s in range(3):
        path = w.dir / f"nshare-{s}.json"
        path.write_text(json.dumps({"task": TASK, "lineage": {"run_id": "rn", "sample": s, "iteration": 0}}))
        specs.append(path)
    roletool = os.path.join(os.path.dirname(BIN), "tests", "roletool")
    procs = [subprocess.Popen([roletool, "--broker", w.endpoint, "--service", svc, "generate", str(p)],
                              stdout=subprocess.PIPE, text=True) for p in specs]
    outs = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]
    assert all(o["body"] == "role_reply" for o in outs), outs
    codes = sorted(o["code"] for o in outs)
    assert len(set(codes)) == 3 and all("# choice" in c for c in codes)     # three choices, once each
    reqs = bodies(w)
    assert len(reqs) == 1 and reqs[0]["n"] == 3                                # one call for the block
    # the call's tokens are counted once, on the sample that made it
    assert sum(o["usage"]["tokens_out"] for o in outs) == 900
    assert sum(o["usage"]["requests"] for o in outs) == 1
    assert proc.log_text().count("event=role_reply_shared") == 2


# ------------------------------------------------------------------ shaping

def test_request_shaping_is_overridable_in_config(world):
    w = world
    _, svc = start_role(w, "generator", env={"GEAK_LLM_MODEL": "gpt-5-mini", "GEAK_LLM_REASONING_EFFORT": "low",
                                             "GEAK_LLM_MAX_TOKENS": "20000"})
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    assert call(w, "generate", svc, {"task": TASK})["code"]
    body = bodies(w)[0]
    assert body["reasoning_effort"] == "low" and body["max_completion_tokens"] == 20000
    assert "temperature" not in body
    # a local server that wants the new name, with a pinned temperature
    _, svc = start_role(w, "generator", env={"GEAK_LLM_MODEL": "qwen-coder",
                                             "GEAK_LLM_TOKEN_PARAM": "max_completion_tokens",
                                             "GEAK_LLM_TEMPERATURE": "0.2"})
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    assert call(w, "generate", svc, {"task": TASK, "options": {"temperature": 0.9}})["code"]
    body = bodies(w)[0]
    assert body["temperature"] == 0.2 and body["max_completion_tokens"] == 4096
    # temperature left out entirely
    _, svc = start_role(w, "generator", env={"GEAK_LLM_TEMPERATURE": "omit"})
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    assert call(w, "generate", svc, {"task": TASK})["code"]
    assert "temperature" not in bodies(w)[0]


def test_anthropic_extended_thinking(world):
    w = world
    _, svc = start_role(w, "generator", provider="anthropic",
                        env={"GEAK_LLM_MODEL": "claude-sonnet-4-5", "GEAK_LLM_THINKING_BUDGET": "4096"})
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    assert call(w, "generate", svc, {"task": TASK})["code"]
    body = bodies(w)[0]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 4096 + 8192 and "temperature" not in body


# ------------------------------------------------------------------ URLs and errors

@pytest.mark.parametrize("provider,base,path", [
    ("openai", "", "/v1/chat/completions"),                      # a bare host gets /v1
    ("openai", "/v1/chat/completions", "/v1/chat/completions"),  # a pasted endpoint
    ("anthropic", "/v1", "/v1/messages"),                        # not /v1/v1/messages
    ("anthropic", "/", "/v1/messages"),
])
def test_base_urls_are_normalised_per_provider(world, provider, base, path):
    w = world
    _, svc = start_role(w, "generator", provider=provider, env={"GEAK_LLM_BASE_URL": w.llm_url + base})
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    assert call(w, "generate", svc, {"task": TASK})["code"]
    assert [r["path"] for r in recorded(w)] == [path]


@pytest.mark.parametrize("status,body,needle", [
    (404, {"detail": "Not Found"}, "HTTP 404: Not Found (check GEAK_LLM_BASE_URL and GEAK_LLM_MODEL)"),
    (400, {"error": {"message": "Unsupported parameter: 'max_tokens'"}}, "Unsupported parameter"),
    (401, {"error": "invalid api key"}, "the key was refused"),
    (422, {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}, "field required"),
])
def test_permanent_http_errors_are_not_retried_and_name_the_url(world, status, body, needle):
    w = world
    proc, svc = start_role(w, "generator")
    script(w, {"kind": "status", "status": status, "body": body},
           {"kind": "reply", "text": fenced(KERNEL)})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm_refused", out
    assert needle in out["error_message"], out
    assert f"POST {w.llm_url}/v1/chat/completions: HTTP {status}" in out["error_message"]
    assert len(recorded(w)) == 1                       # no retry
    assert "event=llm_retry" not in proc.log_text()


def test_a_key_echoed_in_an_error_body_never_leaves_the_role(world):
    w = world
    _, svc = start_role(w, "generator")
    script(w, {"kind": "status", "status": 401,
               "body": {"error": {"message": f"Incorrect API key provided: {KEY}."}}})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm_refused", out
    assert KEY not in out["error_message"] and "Incorrect API key provided: [redacted]" in out["error_message"]


def test_a_private_ca_is_trusted_only_when_configured(world):
    w = world
    d = w.dir / "tls"
    d.mkdir(exist_ok=True)
    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=geak test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    port = free_port()
    tls = Proc([sys.executable, os.path.join(ROOT, "tests", "py", "llm_server.py"), "--port", str(port),
                "--tls-cert", str(d / "srv.pem"), "--tls-key", str(d / "srv.key")],
               str(w.logs / "llm_server_tls.log"))
    try:
        import ssl as pyssl
        import urllib.request
        ctx = pyssl.create_default_context(cafile=str(d / "ca.pem"))
        url = f"https://127.0.0.1:{port}"
        wait_until(lambda: _https_ok(url + "/_requests", ctx), what="tls llm_server")
        proc, svc = start_role(w, "generator", env={"GEAK_LLM_BASE_URL": url + "/v1",
                                                    "GEAK_LLM_MAX_RETRIES": "3"})
        out = call(w, "generate", svc, {"task": TASK})
        assert out["body"] == "error" and out["error_code"] == "llm_refused", out
        assert "curl 60" in out["error_message"] and "GEAK_LLM_CA_FILE" in out["error_message"]
        assert "event=llm_retry" not in proc.log_text()
        # GEAK_LLM_CA_FILE first, then curl's CURL_CA_BUNDLE, then SSL_CERT_FILE
        ca = str(d / "ca.pem")
        for var, env in [("GEAK_LLM_CA_FILE", {"GEAK_LLM_CA_FILE": ca}),
                         ("CURL_CA_BUNDLE", {"CURL_CA_BUNDLE": ca}),
                         ("SSL_CERT_FILE", {"CURL_CA_BUNDLE": None, "SSL_CERT_FILE": ca})]:
            _, svc = start_role(w, "generator", env={"GEAK_LLM_BASE_URL": url + "/v1", **env})
            out = call(w, "generate", svc, {"task": TASK})
            assert out["body"] == "role_reply" and out["usage"]["finish_reason"] == "stop", (var, out)
        # a CA file that cannot be read is a configuration error at start
        p = subprocess.run([os.path.join(BIN, "geak-generator"), "--broker", w.endpoint],
                           env=dict(os.environ, GEAK_LLM_MODEL="m", GEAK_LLM_API_KEY="k",
                                    GEAK_LLM_CA_FILE=str(d / "missing.pem")),
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "GEAK_LLM_CA_FILE" in p.stderr and "cannot be read" in p.stderr
    finally:
        tls.stop()


def _https_ok(url, ctx):
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            return r.status == 200
    except OSError:
        return False


# ------------------------------------------------------------------ geak llm

def geak(w, *args, env=None, timeout=60):
    e = dict(os.environ, GEAK_LLM_API_KEY_FILE=str(w.dir / "key"), GEAK_LLM_BASE_URL=w.llm_url + "/v1",
             GEAK_LLM_MODEL="test-model", GEAK_LLM_PROVIDER="openai")
    e.update(env or {})
    return subprocess.run([GEAK, *args], capture_output=True, text=True, timeout=timeout, env=e, cwd=ROOT)


def test_geak_llm_check_finds_the_model_or_lists_what_is_offered(world):
    w = world
    control(w, "/_reset", {})
    control(w, "/_script", {"models": ["test-model", "other-model"]})
    p = geak(w, "llm", "check")
    assert p.returncode == 0 and "model test-model offered by" in p.stdout, p.stderr
    p = geak(w, "llm", "check", env={"GEAK_LLM_MODEL": "gpt-4o-typo"})
    assert p.returncode == 1, p.stdout
    assert "does not offer model 'gpt-4o-typo'" in p.stderr and "test-model, other-model" in p.stderr
    assert "llm_refused" in p.stderr
    reqs = recorded(w)
    assert reqs[-1]["method"] == "GET" and reqs[-1]["path"] == "/v1/models"
    assert reqs[-1]["headers"]["Authorization"] == "Bearer " + KEY
    # nothing listens: unreachable, named, in seconds
    t0 = time.monotonic()
    p = geak(w, "llm", "check", env={"GEAK_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"})
    assert p.returncode == 1 and "cannot reach the LLM endpoint" in p.stderr
    assert time.monotonic() - t0 < 15


def test_geak_llm_request_shows_the_wire_request_without_the_key(world):
    w = world
    control(w, "/_reset", {})
    p = geak(w, "llm", "request", env={"GEAK_LLM_MODEL": "o3-mini", "GEAK_LLM_REASONING_EFFORT": "high"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"POST {w.llm_url}/v1/chat/completions\n")
    assert "Authorization: Bearer <redacted>" in p.stdout and KEY not in p.stdout
    body = json.loads(p.stdout.strip().splitlines()[-1])
    assert body["reasoning_effort"] == "high" and body["max_completion_tokens"] == 32768
    assert "temperature" not in body and body["stream"] is True
    assert recorded(w) == []                            # nothing was sent


def test_zz_api_key_never_in_logs_or_redis(world):
    check_no_key(world)
