"""The LLM roles against real LLM server software: the LiteLLM proxy
(installed by scripts/deps.sh into its own venv) serving `mock_response`
models on both its OpenAI route (/v1/chat/completions, streamed) and its
Anthropic route (/v1/messages). LiteLLM applies the providers' own
parameter rules to these models (an o-series model refuses temperature=0.7
with HTTP 400), so what passes here is what the real APIs accept.

Everything runs as real processes: redis-server, the broker, the role
services, the evaluator (TRITON_INTERPRET=1) for the `geak run` cases."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from geakproc import BIN, ROOT, Proc, free_port, http_ok, new_world, redis_cli, start_broker, \
    start_redis, wait_until  # noqa: E402
from test_llm_roles import KERNEL, KEY, TASK, call, check_no_key, fenced  # noqa: E402

GEAK = os.path.join(BIN, "geak")
VENV = os.environ.get("GEAK_LITELLM_VENV", os.path.expanduser("~/.cache/geak-c/litellm"))
LITELLM = os.path.join(VENV, "bin", "litellm")
GELU = open(os.path.join(ROOT, "tasks", "gelu", "reference.py")).read()
CUT = "```python\nimport torch\nimport triton\n\n@triton.jit\ndef add_kernel(x_ptr, y_ptr,"
USAGE = {"prompt_tokens": 1234, "completion_tokens": 4096, "total_tokens": 5330}


def mock(name, model, response):
    return {"model_name": name, "litellm_params": {"model": model, "api_key": "upstream-unused",
                                                   "mock_response": response}}


MODELS = [
    mock("coder", "openai/gpt-4o", fenced(KERNEL)),
    mock("o3-mini", "openai/o3-mini", fenced(KERNEL)),
    mock("cut-coder", "openai/gpt-4o", {"choices": [{"index": 0, "finish_reason": "length",
                                                     "message": {"role": "assistant", "content": CUT}}],
                                        "usage": USAGE}),
    mock("o3-thinker", "openai/o3-mini", {"choices": [{"index": 0, "finish_reason": "length",
                                                       "message": {"role": "assistant", "content": None}}],
                                          "usage": dict(USAGE, completion_tokens_details={"reasoning_tokens": 4096})}),
    mock("busy", "openai/gpt-4o", "litellm.RateLimitError"),
    mock("claude-3-5-sonnet", "anthropic/claude-3-5-sonnet-20241022", fenced(KERNEL)),
    mock("claude-sonnet-4", "anthropic/claude-sonnet-4-20250514", fenced(KERNEL)),
    mock("gelu-gpt", "openai/gpt-4o", fenced(GELU)),
    mock("gelu-claude", "anthropic/claude-3-5-sonnet-20241022", fenced(GELU)),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    assert os.path.exists(LITELLM), f"{LITELLM} missing: run `make deps` (scripts/deps.sh)"
    w = new_world(tmp_path_factory, "litellm")
    w.tasks = w.dir / "tasks"
    shutil.copytree(os.path.join(ROOT, "tasks", "gelu"), w.tasks / "gelu")
    (w.dir / "key").write_text(KEY + "\n")
    cfg = w.dir / "litellm.yaml"
    cfg.write_text(yaml.safe_dump({"model_list": MODELS, "general_settings": {"master_key": KEY}}))
    port = free_port()
    w.url = f"http://127.0.0.1:{port}"
    # the proxy's own log stays outside logs/ (it is not ours to keep free of the key)
    w.proxy = Proc([LITELLM, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
                    "--num_workers", "1"], str(w.dir / "litellm.log"),
                   env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
                        "NO_DOCS": "True"})
    wait_until(lambda: http_ok(w.url + "/health/liveliness") or w.proxy.p.poll() is not None,
               timeout=120, what="litellm proxy")
    assert w.proxy.p.poll() is None, open(w.dir / "litellm.log").read()[-3000:]
    w.redis, w.redis_port = start_redis(w.dir, w.logs, extra=("--rdbcompression", "no"))
    w.broker, w.endpoint = start_broker(w.logs)
    w.services, w.counter = [], 0
    yield w
    for p in w.services:
        p.stop()
    w.broker.stop()
    w.redis.stop()
    w.proxy.stop()


def role(w, name, model, provider="openai", env=None):
    w.counter += 1
    service = f"geak.{name}.l{w.counter}"
    base = {"GEAK_LLM_PROVIDER": provider, "GEAK_LLM_MODEL": model,
            # with /v1 for OpenAI, without for Anthropic: the client normalises both
            "GEAK_LLM_BASE_URL": w.url + "/v1", "GEAK_LLM_API_KEY_FILE": str(w.dir / "key"),
            "GEAK_LLM_MAX_RETRIES": "2", "GEAK_LLM_BACKOFF_MS": "20", "GEAK_LLM_BACKOFF_MAX_MS": "100",
            "GEAK_REDIS_HOST": "127.0.0.1", "GEAK_REDIS_PORT": str(w.redis_port),
            "GEAK_TASKS": str(w.tasks), "GEAK_LOG_LEVEL": "debug"}
    base.update(env or {})
    proc = Proc([os.path.join(BIN, f"geak-{name}"), "--broker", w.endpoint, "--service", service],
                str(w.logs / f"{name}-{w.counter}.log"), env={k: v or "" for k, v in base.items()})
    assert proc.wait_log("worker_started"), proc.log_text()
    w.services.append(proc)
    return proc, service


REFLECT = {"task": TASK,
           "failing": {"attempt_id": "a-fail", "code": KERNEL.replace(", mask=mask)\n\n\ndef", ")\n\n\ndef"),
                       "lineage": {"run_id": "rl", "task": "vector_add", "sample": 0, "iteration": 1}},
           "result": {"error_class": "mismatch", "error_message": "differs", "call_ok": True}}
OPTIMIZE = {"task": TASK, "best": {"attempt_id": "a-best", "code": KERNEL,
                                   "lineage": {"run_id": "rl", "iteration": 1}},
            "history": [{"attempt_id": "a-best", "code": KERNEL, "latency_ms": 0.2, "speedup": 1.0}]}


@pytest.mark.parametrize("provider,model", [("openai", "coder"), ("anthropic", "claude-3-5-sonnet")])
def test_the_three_roles_through_both_routes(world, provider, model):
    w = world
    for name, kind, spec in [("generator", "generate", {"task": TASK}),
                             ("reflector", "reflect", REFLECT), ("optimizer", "optimize", OPTIMIZE)]:
        proc, svc = role(w, name, model, provider)
        out = call(w, kind, svc, spec)
        assert out["body"] == "role_reply" and "@triton.jit" in out["code"], (name, out)
        u = out["usage"]
        assert u["provider"] == provider and u["model"] == model
        assert u["tokens_in"] > 0 and u["tokens_out"] > 0 and u["finish_reason"] == "stop", u
        assert u["requests"] == 1 and u["retries"] == 0
        log = proc.log_text()
        assert "event=llm_done" in log
        if provider == "openai":
            assert "streamed=1" in log      # the proxy streamed it (SSE)


def test_a_reasoning_model_gets_the_parameters_it_accepts(world):
    w = world
    _, svc = role(w, "generator", "o3-mini")
    out = call(w, "generate", svc, {"task": TASK, "options": {"temperature": 0.7}})
    assert out["body"] == "role_reply" and "@triton.jit" in out["code"], out
    # pinning a temperature the model refuses is the user's call: refused at once, not retried
    proc, svc = role(w, "generator", "o3-mini", env={"GEAK_LLM_TEMPERATURE": "0.7"})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm_refused", out
    assert "HTTP 400" in out["error_message"] and "temperature" in out["error_message"]
    assert f"POST {w.url}/v1/chat/completions" in out["error_message"]
    assert "event=llm_retry" not in proc.log_text()


def test_anthropic_thinking_request_is_accepted(world):
    w = world
    _, svc = role(w, "generator", "claude-sonnet-4", "anthropic", env={"GEAK_LLM_THINKING_BUDGET": "2048"})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and "@triton.jit" in out["code"], out


def test_a_cut_off_reply_is_truncated_and_every_token_counted(world):
    w = world
    proc, svc = role(w, "generator", "cut-coder", env={"GEAK_LLM_STREAM": "0"})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["error_class"] == "truncated", out
    u = out["usage"]
    # the cut reply, then once more with twice the cap (cut again): both billed, both counted
    assert (u["tokens_in"], u["tokens_out"], u["requests"], u["max_tokens"]) == (2468, 8192, 2, 8192)
    assert u["finish_reason"] == "length" and u["truncated"]
    assert "event=llm_truncated_retry" in proc.log_text()


def test_a_reasoning_model_out_of_budget_is_truncated_not_retried(world):
    w = world
    _, svc = role(w, "generator", "o3-thinker", env={"GEAK_LLM_STREAM": "0", "GEAK_LLM_TRUNCATION_RETRIES": "0"})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["error_class"] == "truncated", out
    u = out["usage"]
    assert (u["tokens_in"], u["tokens_out"], u["reasoning_tokens"], u["requests"]) == (1234, 4096, 4096, 1)


def test_rate_limits_are_retried_then_reported(world):
    w = world
    proc, svc = role(w, "generator", "busy")
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm", out
    assert "HTTP 429" in out["error_message"]
    assert proc.log_text().count("event=llm_retry") == 2      # GEAK_LLM_MAX_RETRIES=2


def test_a_wrong_model_is_refused_naming_the_url(world):
    w = world
    proc, svc = role(w, "generator", "no-such-model")
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm_refused", out
    assert f"POST {w.url}/v1/chat/completions: HTTP 400" in out["error_message"]
    assert "no-such-model" in out["error_message"]
    assert "event=llm_retry" not in proc.log_text()


def geak(w, *args, env=None, timeout=60):
    e = dict(os.environ, GEAK_LLM_API_KEY_FILE=str(w.dir / "key"), GEAK_REDIS_HOST="127.0.0.1",
             GEAK_REDIS_PORT=str(w.redis_port), GEAK_TASKS=str(w.tasks), TRITON_INTERPRET="1",
             GEAK_LOG_LEVEL="info")
    e.update(env or {})
    return subprocess.run([GEAK, *args], capture_output=True, text=True, timeout=timeout, env=e, cwd=ROOT)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_geak_llm_check_against_the_proxy(world, provider):
    w = world
    model = "coder" if provider == "openai" else "claude-3-5-sonnet"
    p = geak(w, "llm", "check", "--llm", f"{provider}:{model}@{w.url}")
    assert p.returncode == 0 and f"model {model} offered by" in p.stdout, p.stderr
    p = geak(w, "llm", "check", "--llm", f"{provider}:gpt-4o-typo@{w.url}")
    assert p.returncode == 1 and "does not offer model 'gpt-4o-typo'" in p.stderr, p.stderr
    assert "coder" in p.stderr and "claude-3-5-sonnet" in p.stderr


@pytest.mark.parametrize("provider,model", [("openai", "gelu-gpt"), ("anthropic", "gelu-claude")])
def test_a_short_geak_run_through_the_proxy(world, provider, model):
    w = world
    run = f"t-litellm-{provider}"
    p = geak(w, "run", "--standalone", "--llm", f"{provider}:{model}@{w.url}/v1", "--tasks", str(w.tasks),
             "--run-id", run, "--k", "2", "--iterations", "2", "--quiet", timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["status"] == "done" and summary["attempts"] == 4 and summary["passes"] == 4, summary
    assert summary["tokens_in"] > 0 and summary["tokens_out"] > 0
    for s in range(2):
        roles = [redis_cli(w.redis_port, "HGET", f"geak:attempt:{run}.gelu.{s}.{i}", "role") for i in range(2)]
        assert roles == ["generator", "optimizer"], roles
        assert redis_cli(w.redis_port, "HGET", f"geak:attempt:{run}.gelu.{s}.0", "error_class") == "pass"
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr


def test_a_geak_run_with_a_wrong_model_fails_in_seconds(world):
    w = world
    t0 = time.monotonic()
    p = geak(w, "run", "--standalone", "--llm", f"openai:gpt-4o-typo@{w.url}/v1", "--tasks", str(w.tasks),
             "--run-id", "t-litellm-typo", "--k", "1", "--iterations", "1", "--quiet")
    assert p.returncode == 1, p.stderr[-2000:]
    assert time.monotonic() - t0 < 15
    assert "does not offer model 'gpt-4o-typo'" in p.stderr and "the run was not created" in p.stderr


def test_zz_api_key_never_in_our_logs_or_redis(world):
    check_no_key(world)
