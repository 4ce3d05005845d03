"""The LLM roles across real processes: a real geak-broker, the role services
(geak-generator, geak-reflector, geak-optimizer), a real redis-server on a
scratch port, and tests/py/llm_server.py standing in for the remote LLM API.
Requests go through the broker with the roletool test client."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from geakproc import (BUILD, BIN, ROOT, Proc, http_json, new_world, start_broker,  # noqa: E402
                      start_llm_double, start_redis)

KEY = "sk-test-NEVER-LOG-ME-0123456789abcdef"
ROLETOOL = os.path.join(BUILD, "tests", "roletool")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(os.path.join(BIN, "geak-broker")) and os.path.exists(ROLETOOL)),
    reason="geak-broker or roletool not built")

SIGNATURE = "def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor"
KERNEL = """import torch
import triton
import triton.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x + y, mask=mask)


def vector_add(x, y):
    out = torch.empty_like(x)
    n = x.numel()
    BLOCK_SIZE = 1024
    grid = (triton.cdiv(n, BLOCK_SIZE),)
    add_kernel[grid](x, y, out, n, BLOCK_SIZE=BLOCK_SIZE, num_warps=4)
    return out
"""
TASK = {"name": "vector_add", "instruction": "Add two float32 vectors element-wise.",
        "signature": SIGNATURE, "category": "elementwise"}
DEVICE = {"vendor": "amd", "name": "AMD Instinct MI300X", "arch": "gfx942", "compute_units": 304,
          "memory_bytes": 192 * 2**30, "l2_bytes": 4 * 2**20, "warp_size": 64, "clock_mhz": 2100}


# ------------------------------------------------------------------ fixtures

def build_world(tmp_path_factory, name):
    """Redis, the LLM stand-in and a broker, plus a small 1-shot corpus
    (shared by the LLM test modules); close_world stops them."""
    w = new_world(tmp_path_factory, name)
    # tasks corpus: the task's own reference must never be the example
    tasks = w.dir / "tasks"
    for task, code in [
        ("vector_add", "# OWN-REFERENCE vector add element-wise float32 vectors\n" + KERNEL),
        ("vector_mul", "# EXAMPLE-MUL multiply two vectors element-wise\n"
                       "@triton.jit\ndef mul_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):\n"
                       "    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)\n"
                       "    mask = offs < n\n    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask)"
                       " * tl.load(y_ptr + offs, mask=mask), mask=mask)\n"),
        ("matmul", "# EXAMPLE-MATMUL\n@triton.jit\ndef matmul_kernel(a, b, c, BLOCK_M: tl.constexpr):\n"
                   "    acc = tl.dot(a, b)\n"),
    ]:
        (tasks / task).mkdir(parents=True)
        (tasks / task / "reference.py").write_text(code)
    w.tasks = str(tasks)
    (w.dir / "key").write_text(KEY + "\n")
    # redis
    w.redis, w.redis_port = start_redis(w.dir, w.logs, extra=("--rdbcompression", "no"))
    # the LLM stand-in
    w.llm, w.llm_url = start_llm_double(w.logs)
    # broker
    w.broker, w.endpoint = start_broker(w.logs)
    w.services = []
    w.counter = 0
    return w


def close_world(w):
    for p in w.services:
        p.stop()
    w.broker.stop()
    w.llm.stop()
    w.redis.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build_world(tmp_path_factory, "llmroles")
    yield w
    close_world(w)


def control(w, path, body=None):
    return http_json(w.llm_url + path, body)


def script(w, *actions):
    control(w, "/_reset", {})
    control(w, "/_script", {"actions": list(actions)})


def recorded(w):
    return control(w, "/_requests")


def capture(w, name):
    """With GEAK_CAPTURE_PROMPTS=DIR, keep what the server received (docs/llm.md examples)."""
    out = os.environ.get("GEAK_CAPTURE_PROMPTS")
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(recorded(w), f, indent=1)


def start_role(w, role, env=None, extra=(), provider="openai"):
    """Start a role service under a fresh service name; returns (proc, service)."""
    w.counter += 1
    service = f"geak.{role}.t{w.counter}"
    base = {"GEAK_LLM_PROVIDER": provider, "GEAK_LLM_MODEL": "test-model",
            "GEAK_LLM_BASE_URL": w.llm_url + ("/v1" if provider == "openai" else ""),
            "GEAK_LLM_API_KEY_FILE": str(w.dir / "key"),
            "GEAK_LLM_TIMEOUT_MS": "5000", "GEAK_LLM_MAX_RETRIES": "3",
            "GEAK_LLM_BACKOFF_MS": "20", "GEAK_LLM_BACKOFF_MAX_MS": "100",
            "GEAK_REDIS_HOST": "127.0.0.1", "GEAK_REDIS_PORT": str(w.redis_port),
            "GEAK_TASKS": w.tasks, "GEAK_LOG_LEVEL": "debug"}
    base.update(env or {})
    # an empty value reads as unset (geak_config_str)
    base = {k: ("" if v is None else v) for k, v in base.items()}
    proc = Proc([os.path.join(BIN, f"geak-{role}"), "--broker", w.endpoint, "--service", service,
                 *extra], str(w.logs / f"{role}-{w.counter}.log"), env=base)
    assert proc.wait_log("worker_started"), proc.log_text()
    w.services.append(proc)
    return proc, service


def call(w, kind, service, spec, timeout=60, envelope_id=None):
    path = w.dir / f"spec-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec))
    extra = ["--envelope-id", envelope_id] if envelope_id else []

    def once():
        p = subprocess.run([ROLETOOL, "--broker", w.endpoint, "--service", service,
                            "--timeout-ms", str(timeout * 1000), *extra, kind, str(path)],
                           capture_output=True, text=True, timeout=timeout + 30, cwd=ROOT)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])
    out = once()
    # a worker that just started may not be registered with the broker yet
    deadline = time.monotonic() + 20
    while out.get("rc") == "no_service" and time.monotonic() < deadline:
        time.sleep(0.1)
        out = once()
    return out


def redis_get(w, key):
    return subprocess.run(["redis-cli", "-p", str(w.redis_port), "--raw", "GET", key],
                          capture_output=True, text=True).stdout


def fenced(code, before="Here is the kernel:", after="It masks the tail."):
    return f"{before}\n```python\n{code}```\n{after}"


# ------------------------------------------------------------------ generator

def test_generator_returns_code_with_usage_and_stored_prompt(world):
    w = world
    proc, svc = start_role(w, "generator")
    script(w, {"kind": "reply", "text": fenced(KERNEL), "tokens_in": 321, "tokens_out": 654})
    out = call(w, "generate", svc, {"task": TASK, "device": DEVICE,
                                    "lineage": {"run_id": "r1", "sample": 2, "iteration": 0},
                                    "options": {"knowledge": True, "one_shot": True}})
    assert out["body"] == "role_reply", out
    assert out["error_class"] == "unspecified" or out["error_class"] not in ("no_code",), out
    assert "@triton.jit" in out["code"] and "def vector_add" in out["code"]
    assert "Here is the kernel" not in out["code"]
    assert out["role"] == "generator" and out["implementation"] == "llm"
    assert out["sample"] == 2 and out["run_id"] == "r1" and len(out["attempt_id"]) == 32
    u = out["usage"]
    assert (u["provider"], u["model"], u["tokens_in"], u["tokens_out"], u["retries"]) == \
        ("openai", "test-model", 321, 654, 0)
    assert u["latency_ms"] > 0
    # what was sent
    reqs = recorded(w)
    assert len(reqs) == 1
    r = reqs[0]
    assert r["path"] == "/v1/chat/completions"
    assert r["headers"]["Authorization"] == "Bearer " + KEY
    body = r["body"]
    assert body["model"] == "test-model"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    user = body["messages"][1]["content"]
    assert SIGNATURE in user and "Add two float32 vectors" in user
    assert "mask" in user and "tl.constexpr" in user and "at least 16" in user
    assert "num_warps" in user and "num_stages" in user and "autotune" in user
    assert "gfx942" in user and "304 CUs" in user and "Wavefront size: 64" in user
    assert "192.0 GiB" in user and "4.0 MiB" in user
    assert "EXAMPLE-MUL" in user and "OWN-REFERENCE" not in user
    assert out["example"] == "vector_mul"          # recorded with the attempt it produced
    # prompt and reply kept in Redis, key never
    assert len(out["prompt_ref"]) == 64 and len(out["reply_ref"]) == 64
    prompt = json.loads(redis_get(w, "geak:blob:" + out["prompt_ref"]))
    assert prompt["user"] == user and prompt["role"] == "generator" and prompt["sample"] == 2
    assert redis_get(w, "geak:blob:" + out["reply_ref"]).rstrip("\n") == fenced(KERNEL)
    assert "llm_done" in proc.log_text()
    capture(w, "generator")


def test_request_resent_with_its_id_is_answered_from_the_store(world):
    # a killed `geak run` re-sends a role request with the same envelope id; once the
    # broker's reply cache has forgotten it (every call here has a fresh transport id,
    # so the broker never dedupes), the role answers from Redis instead of asking the LLM
    w = world
    proc, svc = start_role(w, "generator")
    script(w, {"kind": "reply", "text": fenced(KERNEL), "tokens_in": 11, "tokens_out": 22},
           {"kind": "reply", "text": fenced(KERNEL + "# second\n"), "tokens_in": 33, "tokens_out": 44})
    spec = {"task": TASK, "device": DEVICE, "lineage": {"run_id": "rm", "sample": 0, "iteration": 0}}
    first = call(w, "generate", svc, spec, envelope_id="rm.vector_add.0.0:generate")
    again = call(w, "generate", svc, spec, envelope_id="rm.vector_add.0.0:generate")
    assert len(recorded(w)) == 1                      # the LLM was asked once
    assert again["code"] == first["code"] and again["reply_ref"] == first["reply_ref"]
    assert again["prompt_ref"] == first["prompt_ref"]
    assert (again["usage"]["tokens_in"], again["usage"]["tokens_out"]) == (11, 22)
    assert again["usage"]["model"] == "test-model"
    assert "event=role_reply_memo" in proc.log_text()
    # another id is another question: the LLM is asked, and its own answer comes back
    other = call(w, "generate", svc, spec, envelope_id="rm.vector_add.1.0:generate")
    assert len(recorded(w)) == 2 and "# second" in other["code"]
    assert other["usage"]["tokens_in"] == 33


def test_generator_ablation_switches_off_knowledge_and_one_shot(world):
    w = world
    _, svc = start_role(w, "generator")
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    out = call(w, "generate", svc, {"task": TASK, "device": DEVICE,
                                    "options": {"knowledge": False, "one_shot": False}})
    assert out["code"]
    user = recorded(w)[0]["body"]["messages"][1]["content"]
    assert SIGNATURE in user
    assert "gfx942" not in user and "Triton practice" not in user and "EXAMPLE-" not in user
    assert out["example"] == ""


def test_generator_no_code_is_classified_and_reply_kept(world):
    w = world
    _, svc = start_role(w, "generator")
    script(w, {"kind": "reply", "text": "I am sorry, I cannot write that kernel today."})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and out["error_class"] == "no_code", out
    assert out["code"] == "" and out["reply_ref"]
    assert "cannot write" in redis_get(w, "geak:blob:" + out["reply_ref"])


def test_429_with_retry_after_is_retried_then_succeeds(world):
    w = world
    proc, svc = start_role(w, "generator")
    script(w, {"kind": "status", "status": 429, "retry_after": "1"},
           {"kind": "reply", "text": fenced(KERNEL)})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "role_reply" and "@triton.jit" in out["code"], out
    assert out["usage"]["retries"] == 1
    reqs = recorded(w)
    assert len(reqs) == 2
    assert reqs[1]["t"] - reqs[0]["t"] >= 0.9      # Retry-After: 1 honoured (backoff alone is 20 ms)
    assert "llm_retry" in proc.log_text() and "status=429" in proc.log_text()


def test_500s_exhaust_retries_into_a_clean_llm_error_then_service_keeps_serving(world):
    w = world
    proc, svc = start_role(w, "generator", env={"GEAK_LLM_MAX_RETRIES": "2"})
    script(w, *[{"kind": "status", "status": 500}] * 3, {"kind": "reply", "text": fenced(KERNEL)})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm", out
    assert "HTTP 500" in out["error_message"]
    assert len(recorded(w)) == 3
    again = call(w, "generate", svc, {"task": TASK})
    assert again["body"] == "role_reply" and again["code"]
    assert proc.p.poll() is None


@pytest.mark.parametrize("kind,needle", [("malformed", "not valid JSON"),
                                         ("truncated", "reply cut off"),
                                         ("missing", "no choices")])
def test_bad_bodies_are_classified_errors_and_service_survives(world, kind, needle):
    w = world
    proc, svc = start_role(w, "generator", env={"GEAK_LLM_MAX_RETRIES": "1"})
    # a truncated body is a transport failure and is retried (once here);
    # a complete but malformed body is not
    tries = 2 if kind == "truncated" else 1
    script(w, *[{"kind": kind}] * tries, {"kind": "reply", "text": fenced(KERNEL)})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "llm", out
    assert needle in out["error_message"], out
    assert len(recorded(w)) == tries
    again = call(w, "generate", svc, {"task": TASK})
    assert again["body"] == "role_reply" and again["code"], again
    assert proc.p.poll() is None


def test_anthropic_wire_format(world):
    w = world
    _, svc = start_role(w, "generator", provider="anthropic")
    script(w, {"kind": "reply", "text": fenced(KERNEL), "tokens_in": 77, "tokens_out": 88})
    out = call(w, "generate", svc, {"task": TASK, "options": {"max_tokens": 1234}})
    assert out["body"] == "role_reply" and "@triton.jit" in out["code"], out
    assert out["usage"]["provider"] == "anthropic"
    assert (out["usage"]["tokens_in"], out["usage"]["tokens_out"]) == (77, 88)
    r = recorded(w)[0]
    assert r["path"] == "/v1/messages"
    assert r["headers"]["x-api-key"] == KEY and "Authorization" not in r["headers"]
    assert r["headers"]["anthropic-version"] == "2023-06-01"
    assert r["body"]["max_tokens"] == 1234 and r["body"]["model"] == "test-model"
    assert "Triton kernels" in r["body"]["system"]
    assert [m["role"] for m in r["body"]["messages"]] == ["user"]


def test_concurrency_limit_is_shared_by_threads(world):
    w = world
    _, svc = start_role(w, "generator", env={"GEAK_LLM_CONCURRENCY": "2"}, extra=("--threads", "4"))
    control(w, "/_reset", {})
    control(w, "/_script", {"actions": [{"kind": "reply", "text": fenced(KERNEL), "delay": 1.0}] * 4})
    path = w.dir / "conc.json"
    path.write_text(json.dumps({"task": TASK}))
    procs = [subprocess.Popen([ROLETOOL, "--broker", w.endpoint, "--service", svc, "generate",
                               str(path)], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(o["body"] == "role_reply" and o["code"] for o in outs), outs
    times = sorted(r["t"] for r in recorded(w))
    assert len(times) == 4
    assert times[1] - times[0] < 0.8          # two in flight together
    assert times[2] - times[0] >= 0.9         # the third waited for a slot


def test_budget_stops_new_llm_work(world):
    w = world
    proc, svc = start_role(w, "generator", env={"GEAK_LLM_BUDGET_CALLS": "1"})
    script(w, {"kind": "reply", "text": fenced(KERNEL)}, {"kind": "reply", "text": fenced(KERNEL)})
    assert call(w, "generate", svc, {"task": TASK})["body"] == "role_reply"
    out = call(w, "generate", svc, {"task": TASK})
    assert out["body"] == "error" and out["error_code"] == "budget", out
    assert len(recorded(w)) == 1
    assert "llm_budget_exhausted" in proc.log_text()


# ------------------------------------------------------------------ reflector / optimizer

def test_reflector_prompt_has_failing_code_error_and_history(world):
    w = world
    _, svc = start_role(w, "reflector")
    fixed = KERNEL.replace("x + y", "x + y  # fixed")
    script(w, {"kind": "reply",
               "text": "Diagnosis: the store wrote past the end because the mask was dropped.\n"
                       f"```python\n{fixed}```\n"})
    failing = KERNEL.replace(", mask=mask)\n\n\ndef", ")\n\n\ndef")
    out = call(w, "reflect", svc, {
        "task": TASK,
        "failing": {"attempt_id": "att-failing-1", "code": failing,
                    "lineage": {"run_id": "r2", "task": "vector_add", "sample": 1, "iteration": 2}},
        "result": {"error_class": "mismatch", "error_message": "output differs from the reference",
                   "trace": "Traceback: AssertionError at compare.py line 9",
                   "call_ok": True, "exec_ok": False,
                   "verdicts": [{"index": 3, "label": "fp32 4097", "ok": False,
                                 "error_class": "mismatch", "max_abs_err": 2.5, "max_rel_err": 0.75}]},
        "history": [{"attempt_id": "att-0", "code": "OLDEST_CODE = 1\n", "error_class": "syntax_error",
                     "error_message": "invalid syntax", "iteration": 0},
                    {"attempt_id": "att-1", "code": "SECOND_CODE = 1\n", "error_class": "runtime_error",
                     "error_message": "IndexError", "iteration": 1}]})
    assert out["body"] == "role_reply" and "# fixed" in out["code"], out
    assert out["role"] == "reflector" and out["parent"] == "att-failing-1"
    assert out["iteration"] == 3 and out["sample"] == 1 and out["run_id"] == "r2"
    assert out["diagnosis"].startswith("Diagnosis: the store wrote past the end")
    user = recorded(w)[0]["body"]["messages"][1]["content"]
    assert failing in user
    assert "Error class: mismatch" in user and "output differs from the reference" in user
    assert "AssertionError at compare.py" in user
    assert "fp32 4097" in user and "max_abs_err=2.5" in user
    assert user.index("OLDEST_CODE") < user.index("SECOND_CODE") < user.index("The failing attempt")
    capture(w, "reflector")


def test_optimizer_llm_prompt_lists_history_slowest_to_fastest(world):
    w = world
    _, svc = start_role(w, "optimizer")
    faster = KERNEL.replace("num_warps=4", "num_warps=8")
    script(w, {"kind": "reply", "text": "More warps hide latency.\n```python\n" + faster + "```"})
    history = [  # deliberately out of order
        {"attempt_id": "fast", "code": "FASTEST_CODE = 1\n", "latency_ms": 0.10, "speedup": 3.0, "iteration": 2},
        {"attempt_id": "slow", "code": "SLOWEST_CODE = 1\n", "latency_ms": 0.90, "speedup": 0.5, "iteration": 0},
        {"attempt_id": "mid", "code": "MIDDLE_CODE = 1\n", "latency_ms": 0.30, "speedup": 1.2, "iteration": 1},
    ]
    out = call(w, "optimize", svc, {"task": TASK, "device": DEVICE, "history": history,
                                    "best": {"attempt_id": "fast", "code": "FASTEST_CODE = 1\n",
                                             "lineage": {"run_id": "r3", "iteration": 2}}})
    assert out["body"] == "role_reply" and "num_warps=8" in out["code"], out
    assert out["role"] == "optimizer" and out["implementation"] == "llm"
    assert out["parent"] == "fast" and out["iteration"] == 3
    user = recorded(w)[0]["body"]["messages"][1]["content"]
    assert user.index("SLOWEST_CODE") < user.index("MIDDLE_CODE") < user.index("FASTEST_CODE")
    assert "latency 0.9000 ms, speedup 0.500x" in user and "latency 0.1000 ms, speedup 3.000x" in user
    assert "gfx942" in user and "304 CUs" in user
    capture(w, "optimizer")


def test_optimizer_param_search_proposes_untried_variants(world):
    w = world
    # no LLM configured at all: param-search must not need one
    proc, svc = start_role(w, "optimizer", extra=("--impl", "param-search"),
                           env={"GEAK_LLM_PROVIDER": None, "GEAK_LLM_MODEL": None,
                                "GEAK_LLM_BASE_URL": None, "GEAK_LLM_API_KEY_FILE": None})
    control(w, "/_reset", {})
    spec = {"task": TASK, "best": {"attempt_id": "best", "code": KERNEL,
                                   "lineage": {"run_id": "r4", "iteration": 1}},
            "history": [{"attempt_id": "best", "code": KERNEL, "latency_ms": 0.2, "speedup": 1.0}]}
    out = call(w, "optimize", svc, spec)
    assert out["body"] == "role_reply" and out["error_class"] != "no_code", out
    assert out["implementation"] == "param-search" and out["role"] == "optimizer"
    assert "BLOCK_SIZE = 2048" in out["code"] and out["code"] != KERNEL
    assert "BLOCK_SIZE 1024 -> 2048" in out["diagnosis"]
    compile(out["code"], "variant.py", "exec")          # still valid Python
    # with that variant tried, the next one is different
    spec["history"].append({"attempt_id": "v1", "code": out["code"], "latency_ms": 0.3})
    out2 = call(w, "optimize", svc, spec)
    assert "BLOCK_SIZE = 512" in out2["code"], out2
    assert out2["code"] not in (KERNEL, out["code"])
    assert recorded(w) == []                            # no LLM traffic


def test_replay_provider_serves_recorded_replies(world):
    w = world
    replay = w.dir / "replay.jsonl"
    lines = [
        {"role": "generator", "task": "vector_add", "sample": 0, "iteration": 0,
         "reply": fenced(KERNEL.replace("x + y", "x + y  # replay-s0"))},
        {"role": "generator", "task": "vector_add", "sample": 1, "iteration": 0,
         "reply": fenced(KERNEL.replace("x + y", "x + y  # replay-s1"))},
        {"instruction": "Multiply two vectors.", "predict": "```python\ndef mul(x, y):\n    return x * y\n```"},
    ]
    replay.write_text("\n".join(json.dumps(l) for l in lines) + "\nnot json\n")
    _, svc = start_role(w, "generator", provider="replay", env={"GEAK_LLM_REPLAY": str(replay)})
    control(w, "/_reset", {})
    a = call(w, "generate", svc, {"task": TASK, "lineage": {"sample": 0}})
    b = call(w, "generate", svc, {"task": TASK, "lineage": {"sample": 1}})
    c = call(w, "generate", svc, {"task": TASK, "lineage": {"sample": 2}})   # cycles
    assert "replay-s0" in a["code"] and "replay-s1" in b["code"] and "replay-s0" in c["code"]
    assert a["usage"]["provider"] == "replay"
    tb = call(w, "generate", svc, {"task": {"name": "mul", "instruction": "Multiply two vectors."}})
    assert "return x * y" in tb["code"], tb
    missing = call(w, "generate", svc, {"task": {"name": "nothing", "instruction": "?"}})
    assert missing["body"] == "error" and missing["error_code"] == "llm"
    assert recorded(w) == []


def test_service_without_store_still_works(world):
    w = world
    proc, svc = start_role(w, "generator", env={"GEAK_REDIS_HOST": None, "GEAK_REDIS_PORT": None})
    script(w, {"kind": "reply", "text": fenced(KERNEL)})
    out = call(w, "generate", svc, {"task": TASK})
    assert out["code"] and out["prompt_ref"] == "" and out["reply_ref"] == ""
    assert "prompts=not_kept" in proc.log_text()


def check_no_key(w):
    """Every log file written so far, and every byte Redis holds, are free of
    the key (the services are stopped first: their logs are complete)."""
    for p in w.services:
        assert p.stop() == 0, p.log_text()[-3000:]
    w.services.clear()
    logs = list(w.logs.iterdir())
    assert len(logs) > 5
    for path in logs:
        data = path.read_bytes()
        assert KEY.encode() not in data, path
        for needle in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:"):
            assert needle not in data, (path, data[-3000:])
    assert subprocess.run(["redis-cli", "-p", str(w.redis_port), "SAVE"],
                          capture_output=True, text=True).stdout.strip() == "OK"
    dump = (w.dir / "dump.rdb").read_bytes()
    assert b"geak:blob:" in dump and b"Triton" in dump      # uncompressed: the scan is real
    assert KEY.encode() not in dump
    assert KEY[:16].encode() not in dump


def test_zz_api_key_never_in_logs_or_redis(world):
    """Runs last in this module."""
    check_no_key(world)
