"""geak run across real processes: redis-server on a scratch port, the broker,
the role services (generator, reflector, optimizer) talking to the LLM double
tests/py/llm_server.py, and the real evaluator (TRITON_INTERPRET=1) on a copy
of the shipped gelu task. Replies are scripted per role: the double matches
each role's system prompt.

Timing: under TRITON_INTERPRET=1 nothing is timed (EvalResult.timed false, no
speedups), so "optimized faster" cannot be measured here. What is checked
across processes is the optimizer step itself: after a pass the optimizer is
asked to improve the lineage's best, with the (run, task) correct attempts
as its history, and its candidates are stored with the best as parent. That
a faster timed attempt becomes the best (and is the next optimizer target)
is covered by geak_scan's selftest (pure state machine)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from geakproc import (BIN, ROOT, Proc, http_json, redis_cli, new_world, start_broker,  # noqa: E402
                      start_llm_double, start_redis, wait_until)

GEAK = os.path.join(BIN, "geak")

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(BIN, b)) for b in
            ("geak", "geak-broker", "geak-evaluator", "geak-generator", "geak-reflector",
             "geak-optimizer")),
    reason="geak binaries not built")

GEN = "who writes Triton kernels"           # the roles' system prompts (services/<role>/main.c)
FIX = "who debugs Triton kernels"
OPT = "who makes correct Triton kernels faster"

REFERENCE = open(os.path.join(ROOT, "tasks", "gelu", "reference.py")).read()
WRONG = REFERENCE.replace("y = 0.5 * x", "y = 0.6 * x")            # runs, mismatches
SYNTAX = "import torch\n\ndef gelu(x:\n    return x\n"            # does not parse
VARIANT = REFERENCE.replace("BLOCK = 1024", "BLOCK = 256  # OPTIMIZED-VARIANT")
SLOW = REFERENCE.replace("BLOCK = 1024", "BLOCK = 16")              # seconds under the interpreter


def fenced(code, prose="Here is the module."):
    return f"{prose}\n```python\n{code}```\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = new_world(tmp_path_factory, "run")
    w.tasks = w.dir / "tasks"
    shutil.copytree(os.path.join(ROOT, "tasks", "gelu"), w.tasks / "gelu")
    (w.dir / "key").write_text("sk-test-run-key\n")
    w.redis, w.redis_port = start_redis(w.dir, w.logs)
    w.llm, w.llm_url = start_llm_double(w.logs)
    w.broker, w.endpoint = start_broker(w.logs)
    w.env = {"GEAK_REDIS_HOST": "127.0.0.1", "GEAK_REDIS_PORT": str(w.redis_port),
             "GEAK_TASKS": str(w.tasks), "GEAK_LOG_LEVEL": "info", "TRITON_INTERPRET": "1"}
    role_env = dict(w.env, GEAK_LLM_PROVIDER="openai", GEAK_LLM_MODEL="test-model",
                    GEAK_LLM_BASE_URL=w.llm_url + "/v1", GEAK_LLM_API_KEY_FILE=str(w.dir / "key"),
                    GEAK_LLM_TIMEOUT_MS="5000", GEAK_LLM_MAX_RETRIES="1",
                    GEAK_LLM_BACKOFF_MS="20", GEAK_LLM_BACKOFF_MAX_MS="100")
    w.services = []
    for role in ("generator", "reflector", "optimizer"):
        p = Proc([os.path.join(BIN, f"geak-{role}"), "--broker", w.endpoint, "--threads", "3"],
                 str(w.logs / f"{role}.log"), env=role_env)
        w.services.append(p)
    w.evaluator = start_evaluator(w, "evaluator-1")
    for p in w.services:
        assert p.wait_log("worker_started"), p.log_text()
    wait_until(lambda: workers(w, "geak.evaluator") >= 1, timeout=60, what="evaluator registered")
    yield w
    for p in w.services + [w.evaluator]:
        if p.p.poll() is None:
            p.stop()
    w.broker.stop()
    w.llm.stop()
    w.redis.stop()


def start_evaluator(w, name):
    return Proc([os.path.join(BIN, "geak-evaluator"), "--broker", w.endpoint, "--tasks",
                 str(w.tasks), "--interpret"], str(w.logs / f"{name}.log"), env=w.env)


def control(w, path, body=None):
    return http_json(w.llm_url + path, body)


def script(w, rules, actions=()):
    """Per-role replies: rules = {system-prompt substring: reply text or action dict}."""
    control(w, "/_reset", {})
    spec = {"rules": [], "actions": list(actions)}
    for match, reply in rules.items():
        action = reply if isinstance(reply, dict) else {"kind": "reply", "text": reply}
        spec["rules"].append(dict(action, match=match))
    control(w, "/_script", spec)


def llm_requests(w):
    """The completion requests the double received (not geak run's model-list check)."""
    return [r for r in control(w, "/_requests") if r.get("method") != "GET"]


def redis(w, *args):
    return redis_cli(w.redis_port, *args)


FIELDS = ("id", "role", "parent", "status", "error_class", "exec_ok", "call_ok",
          "implementation", "iteration", "tokens_in", "tokens_out")


def attempt(w, attempt_id):
    """The readable fields of a stored attempt (docs/store.md); {} when absent."""
    out = subprocess.run(["redis-cli", "-p", str(w.redis_port), "--raw", "HMGET",
                          "geak:attempt:" + attempt_id, *FIELDS], capture_output=True,
                         text=True).stdout
    values = out.split("\n")[:len(FIELDS)]
    if not values or not values[0]:
        return {}
    return dict(zip(FIELDS, values))


def lineage(w, run, task, sample):
    text = redis(w, "LRANGE", f"geak:lineage:{run}:{task}:{sample}", "0", "-1")
    return text.splitlines() if text else []


def run_attempt_keys(w, run):
    text = redis(w, "KEYS", f"geak:attempt:{run}.*")
    return sorted(text.splitlines()) if text else []


def workers(w, service):
    p = subprocess.run([GEAK, "stats", "--broker", w.endpoint], capture_output=True, text=True,
                       timeout=20)
    try:
        return json.loads(p.stdout)["services"].get(service, {}).get("workers", 0)
    except (ValueError, KeyError):
        return 0


def broker_stats(w):
    p = subprocess.run([GEAK, "stats", "--broker", w.endpoint], capture_output=True, text=True,
                       timeout=20)
    return json.loads(p.stdout)


def geak_run(w, run_id, *args, resume=False, timeout=120, log=None):
    cmd = [GEAK, "run", "--broker", w.endpoint]
    cmd += ["--resume", run_id] if resume else ["--tasks", str(w.tasks), "--run-id", run_id]
    cmd += list(args)
    log_path = w.logs / (log or f"run-{run_id}-{time.monotonic_ns()}.log")
    with open(log_path, "wb") as err:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, timeout=timeout, cwd=ROOT,
                           env=dict(os.environ, **w.env))
    text = log_path.read_text(errors="replace")
    assert "AddressSanitizer" not in text and "runtime error:" not in text, text[-3000:]
    lines = [l for l in p.stdout.decode().splitlines() if l.strip()]
    return p.returncode, (json.loads(lines[-1]) if lines else None), text


def run_config(w, run_id):
    return json.loads(redis(w, "HGET", f"geak:run:{run_id}", "config"))


# ------------------------------------------------------------------ the policy

def test_failure_is_reflected_then_passes(world):
    w = world
    script(w, {GEN: fenced(WRONG), FIX: fenced(REFERENCE, "Diagnosis: the constant is 0.5.")})
    rc, summary, log = geak_run(w, "t-reflect", "--task", "gelu", "--k", "1", "--iterations", "3",
                                "--no-optimizer")
    assert rc == 0, log[-3000:]
    assert summary["status"] == "done" and summary["attempts"] == 2, summary
    assert summary["run_id"] == "t-reflect" and summary["elapsed_s"] > 0
    a0, a1 = attempt(w, "t-reflect.gelu.0.0"), attempt(w, "t-reflect.gelu.0.1")
    assert (a0["role"], a0["parent"], a0["error_class"], a0["status"]) == \
        ("generator", "", "mismatch", "evaluated"), a0
    assert (a1["role"], a1["parent"], a1["error_class"], a1["exec_ok"]) == \
        ("reflector", "t-reflect.gelu.0.0", "pass", "1"), a1
    # optimizer off: done at the first pass, not after N iterations
    assert lineage(w, "t-reflect", "gelu", 0) == ["t-reflect.gelu.0.0", "t-reflect.gelu.0.1"]
    assert redis(w, "HGET", "geak:run:t-reflect", "status") == "done"
    # the reflector saw the failing code and the evidence
    fix = [r for r in llm_requests(w) if FIX in json.dumps(r["body"])]
    assert len(fix) == 1
    user = fix[0]["body"]["messages"][1]["content"]
    assert "0.6 * x" in user and "Error class: mismatch" in user
    # the run config of docs/run.md
    cfg = run_config(w, "t-reflect")
    assert (cfg["k"], cfg["iterations"], cfg["max_debug"]) == (1, 3, 3)
    assert cfg["ablation"] == {"knowledge": True, "one_shot": True, "reflector": True,
                               "optimizer": False}
    assert cfg["tasks_root"] == str(w.tasks) and cfg["llm"] == "env"
    assert [t["name"] for t in cfg["tasks"]] == ["gelu"]
    assert cfg["tasks"][0]["status"] in ("ok", "unchecked"), cfg
    assert cfg["tasks"][0]["category"] == "elementwise" and cfg["tasks"][0]["difficulty"] == 1
    # tokens come from Candidate.usage (the double answers 11 in / 22 out per call)
    counters = dict(zip(*[iter(redis(w, "HGETALL", "geak:run:t-reflect:counters").splitlines())] * 2))
    assert counters["attempts"] == "2" and counters["tokens_in"] == "22" and counters["tokens_out"] == "44"


def test_pass_is_optimized_from_the_best_with_history(world):
    w = world
    script(w, {GEN: fenced(REFERENCE), OPT: fenced(VARIANT, "Smaller blocks.")})
    rc, summary, log = geak_run(w, "t-opt", "--task", "gelu", "--k", "1", "--iterations", "3",
                                "--no-knowledge")
    assert rc == 0, log[-3000:]
    assert summary["attempts"] == 3 and summary["passes"] == 3, summary
    roles = [(a["role"], a["parent"], a["error_class"])
             for a in (attempt(w, f"t-opt.gelu.0.{i}") for i in range(3))]
    # untimed passes: the first correct attempt stays the best and is optimized
    assert roles == [("generator", "", "pass"), ("optimizer", "t-opt.gelu.0.0", "pass"),
                     ("optimizer", "t-opt.gelu.0.0", "pass")], roles
    opts = [r["body"]["messages"][1]["content"] for r in llm_requests(w)
            if OPT in json.dumps(r["body"])]
    assert len(opts) == 2
    # history of correct attempts of (run, task): the first sees the best, the
    # second also the first optimized version
    assert "t-opt.gelu.0.0" in opts[0] and "t-opt.gelu.0.1" not in opts[0]
    assert "t-opt.gelu.0.1" in opts[1] and "OPTIMIZED-VARIANT" in opts[1]
    assert "Correct versions so far, slowest to fastest" in opts[1]
    cfg = run_config(w, "t-opt")
    assert cfg["ablation"]["knowledge"] is False and cfg["ablation"]["optimizer"] is True
    gen = [r for r in llm_requests(w) if GEN in json.dumps(r["body"])][0]
    assert "Triton practice" not in gen["body"]["messages"][1]["content"]


def test_guardrail_restarts_after_max_debug_failed_fixes(world):
    w = world
    # first generation: prose only (NO_CODE, stored without evaluation); then
    # every candidate fails to parse
    script(w, {GEN: fenced(SYNTAX), FIX: fenced(SYNTAX, "Diagnosis: unclear.")},
           actions=[{"kind": "reply", "text": "I cannot write this kernel.", "match": GEN}])
    rc, summary, log = geak_run(w, "t-guard", "--task", "gelu", "--k", "1", "--iterations", "6",
                                "--max-debug", "2", "--no-optimizer")
    assert rc == 0, log[-3000:]
    got = [attempt(w, f"t-guard.gelu.0.{i}") for i in range(6)]
    assert [(a["role"], a["parent"], a["error_class"]) for a in got] == [
        ("generator", "", "no_code"),                   # no code: regenerate
        ("generator", "", "syntax_error"),
        ("reflector", "t-guard.gelu.0.1", "syntax_error"),
        ("reflector", "t-guard.gelu.0.2", "syntax_error"),   # 2 failed fixes
        ("generator", "", "syntax_error"),              # guardrail: fresh start
        ("reflector", "t-guard.gelu.0.4", "syntax_error"),
    ], got
    assert all(a["status"] == "evaluated" for a in got)
    assert "why=iterations restarts=1" in log
    # the no-code attempt never reached the evaluator
    assert "t-guard.gelu.0.0:eval" not in w.evaluator.log_text()
    assert summary["evaluations"] == 5 and summary["passes"] == 0


def test_bad_usage_and_existing_run(world):
    w = world
    p = subprocess.run([GEAK, "run", "--tasks", str(w.tasks)], capture_output=True, text=True)
    assert p.returncode == 2 and "usage: geak run" in p.stderr
    p = subprocess.run([GEAK, "run", "--k", "1", "--iterations", "1", "--llm", "bogus:x"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--llm bogus:x" in p.stderr
    rc, summary, log = geak_run(w, "t-reflect", "--k", "1", "--iterations", "1")
    assert rc == 1 and summary is None and "exists (use --resume t-reflect)" in log


# ------------------------------------------------------------------ resume

def test_bad_inputs_get_messages_that_name_the_problem(world, tmp_path):
    w = world
    env = dict(os.environ, **w.env)
    def geak(*args, extra=None):
        return subprocess.run([GEAK, *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env=dict(env, **(extra or {})))
    p = geak("run", "--broker", w.endpoint, "--tasks", str(w.tasks), "--k", "1000000", "--iterations", "1")
    assert p.returncode == 2 and "--k 1000000: expected an integer in [1, 10000]" in p.stderr
    p = geak("status", extra={"GEAK_LOG_LEVEL": "garbage"})
    assert "event=log_level_unknown" in p.stderr and 'value="garbage"' in p.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    p = geak("eval", "--broker", w.endpoint, "--candidates", str(empty), "--tasks", str(w.tasks))
    assert p.returncode == 1 and "holds no candidates" in p.stderr
    nothing = tmp_path / "no-kernels"
    nothing.mkdir()
    p = geak("eval", "--broker", w.endpoint, "--candidates", str(nothing), "--tasks", str(w.tasks))
    assert p.returncode == 1 and "holds no candidates" in p.stderr and "a folder of .py files" in p.stderr
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"id": "huge", "task": "gelu", "code": "x = 1\n" * (2 << 20)}) + "\n")
    p = geak("eval", "--broker", w.endpoint, "--candidates", str(big), "--tasks", str(w.tasks),
             "--no-selfcheck")
    verdict = json.loads(p.stdout.splitlines()[0])
    assert verdict["error_class"] == "invalid_input" and "at most 8 MiB" in verdict["message"], verdict
    r = subprocess.run([os.path.join(BIN, "geak-generator"), "--broker", w.endpoint], capture_output=True,
                       text=True, timeout=30, env=dict(env, GEAK_REDIS_PORT="abc", GEAK_LLM_PROVIDER="replay",
                                                       GEAK_LLM_REPLAY=str(empty)))
    assert r.returncode != 0 and "GEAK_REDIS_PORT must be a port number" in r.stderr, r.stderr[-2000:]


def test_resume_after_kill_9_of_geak_run(world):
    w = world
    slow = {"kind": "reply", "delay": 0.3}
    script(w, {GEN: dict(slow, text=fenced(REFERENCE)), OPT: dict(slow, text=fenced(VARIANT))})
    run = "t-kill"
    cmd = [GEAK, "run", "--broker", w.endpoint, "--tasks", str(w.tasks), "--run-id", run,
           "--k", "3", "--iterations", "3", "--concurrency", "4"]
    with open(w.logs / "run-t-kill-1.log", "wb") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                             env=dict(os.environ, **w.env))
        try:
            wait_until(lambda: len(run_attempt_keys(w, run)) >= 3 or p.poll() is not None,
                       timeout=60, interval=0.02, what="some attempts stored")
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
    assert p.returncode == -signal.SIGKILL
    before = run_attempt_keys(w, run)
    assert 3 <= len(before) < 9, before              # killed mid-scan
    assert redis(w, "HGET", f"geak:run:{run}", "status") == "running"
    rc, summary, log = geak_run(w, run, resume=True)
    assert rc == 0, log[-3000:]
    assert summary["status"] == "done" and summary["attempts"] == 9, summary
    expected = [f"{run}.gelu.{s}.{i}" for s in range(3) for i in range(3)]
    assert run_attempt_keys(w, run) == sorted("geak:attempt:" + a for a in expected)
    for s in range(3):
        ids = lineage(w, run, "gelu", s)
        assert ids == [f"{run}.gelu.{s}.{i}" for i in range(3)], ids      # once each, in order
        roles = [attempt(w, a)["role"] for a in ids]
        assert roles == ["generator", "optimizer", "optimizer"]
        assert all(attempt(w, a)["status"] == "evaluated" for a in ids)
    counters = dict(zip(*[iter(redis(w, "HGETALL", f"geak:run:{run}:counters").splitlines())] * 2))
    assert counters["attempts"] == "9" and counters["evaluated"] == "9", counters
    # no role call was made twice: the broker deduplicates by request id
    # (attempt id + phase) and replays a reply the killed run never read
    assert len(llm_requests(w)) == 9
    assert redis(w, "HGET", f"geak:run:{run}", "status") == "done"
    # resuming a finished run does nothing
    rc, again, _ = geak_run(w, run, resume=True)
    assert rc == 0 and again["attempts_new"] == 0 and again["evaluations"] == 0
    assert len(llm_requests(w)) == 9


def test_standalone_with_replay_llm(world, tmp_path):
    w = world
    replay = tmp_path / "replay.jsonl"
    replay.write_text("\n".join(json.dumps(line) for line in [
        {"role": "generator", "task": "gelu", "reply": fenced(WRONG)},
        {"role": "reflector", "task": "gelu", "reply": fenced(REFERENCE, "Diagnosis: 0.5.")},
    ]) + "\n")
    control(w, "/_reset", {})
    cmd = [GEAK, "run", "--standalone", "--llm", f"replay:{replay}", "--tasks", str(w.tasks),
           "--run-id", "t-standalone", "--k", "2", "--iterations", "2", "--no-optimizer", "--quiet"]
    with open(w.logs / "run-t-standalone.log", "wb") as err:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, timeout=180,
                           env=dict(os.environ, **w.env))
    log = (w.logs / "run-t-standalone.log").read_text()
    assert p.returncode == 0, log[-3000:]
    summary = json.loads(p.stdout.decode().splitlines()[-1])
    assert summary["status"] == "done" and summary["attempts"] == 4, summary
    for s in range(2):
        got = [attempt(w, f"t-standalone.gelu.{s}.{i}") for i in range(2)]
        assert [(a["role"], a["error_class"]) for a in got] == \
            [("generator", "mismatch"), ("reflector", "pass")], got
    assert run_config(w, "t-standalone")["llm"] == f"replay:{replay}"
    assert llm_requests(w) == []          # the replay provider, not the double
    assert "standalone_ready" in log


def test_standalone_with_openai_spec(world):
    """--llm openai:MODEL@BASE_URL sets the private role services' LLM."""
    w = world
    script(w, {GEN: fenced(REFERENCE)})
    control(w, "/_script", {"models": ["test-model-x"]})
    spec = f"openai:test-model-x@{w.llm_url}/v1"
    cmd = [GEAK, "run", "--standalone", "--llm", spec, "--tasks", str(w.tasks),
           "--run-id", "t-openai", "--k", "1", "--iterations", "1", "--quiet"]
    env = dict(os.environ, **w.env, GEAK_LLM_API_KEY_FILE=str(w.dir / "key"),
               GEAK_LLM_PROVIDER="anthropic", GEAK_LLM_MODEL="overridden")
    with open(w.logs / "run-t-openai.log", "wb") as err:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, timeout=180, env=env)
    log = (w.logs / "run-t-openai.log").read_text()
    assert p.returncode == 0, log[-3000:]
    assert json.loads(p.stdout.decode().splitlines()[-1])["passes"] == 1
    reqs = llm_requests(w)
    assert len(reqs) == 1 and reqs[0]["path"] == "/v1/chat/completions"
    assert reqs[0]["body"]["model"] == "test-model-x"
    assert attempt(w, "t-openai.gelu.0.0")["error_class"] == "pass"
    # the endpoint was checked before the scan: the model list, once
    checks = [r for r in control(w, "/_requests") if r.get("method") == "GET"]
    assert [r["path"] for r in checks] == ["/v1/models"]


def test_a_cut_off_reply_is_its_own_attempt_and_the_reflector_is_told(world):
    w = world
    cut = {"kind": "reply", "text": "```python\nimport torch\ndef gelu(x):\n    y =", "finish": "length",
           "tokens_in": 50, "tokens_out": 4096}
    script(w, {GEN: cut, FIX: fenced(REFERENCE, "Shorter this time.")})
    rc, summary, log = geak_run(w, "t-cut", "--k", "1", "--iterations", "2", "--no-optimizer")
    assert rc == 0, log[-3000:]
    first, second = (attempt(w, f"t-cut.gelu.0.{i}") for i in range(2))
    assert (first["role"], first["error_class"], first["call_ok"]) == ("generator", "truncated", "0")
    assert first["tokens_out"] == str(2 * 4096)            # the cut try and the larger-budget one
    assert (second["role"], second["error_class"]) == ("reflector", "pass")
    assert summary["evaluations"] == 1                     # the cut-off code was not evaluated
    fix = [r for r in llm_requests(w) if FIX in json.dumps(r["body"])]
    assert len(fix) == 1
    user = fix[0]["body"]["messages"][-1]["content"]
    assert "Error class: truncated" in user and "cut off at its token cap" in user


def test_a_refused_model_fails_before_the_scan(world):
    """The LLM configuration is known here: the endpoint is checked first."""
    w = world
    control(w, "/_reset", {})
    env = dict(w.env, GEAK_LLM_PROVIDER="openai", GEAK_LLM_MODEL="gpt-4o-typo",
               GEAK_LLM_BASE_URL=w.llm_url + "/v1", GEAK_LLM_API_KEY_FILE=str(w.dir / "key"))
    t0 = time.monotonic()
    p = subprocess.run([GEAK, "run", "--broker", w.endpoint, "--tasks", str(w.tasks), "--run-id",
                        "t-typo", "--k", "1", "--iterations", "1"], capture_output=True, text=True,
                       timeout=60, cwd=ROOT, env=dict(os.environ, **env))
    assert p.returncode == 1, p.stderr[-2000:]
    assert time.monotonic() - t0 < 10
    assert "does not offer model 'gpt-4o-typo'" in p.stderr and "test-model" in p.stderr
    assert "the run was not created" in p.stderr
    assert redis(w, "EXISTS", "geak:run:t-typo") == "0"
    assert llm_requests(w) == []


def test_a_permanent_llm_error_mid_scan_stops_the_run_with_its_reason(world):
    w = world
    script(w, {GEN: {"kind": "status", "status": 404, "body": {"detail": "model 'x' not found"}}})
    t0 = time.monotonic()
    rc, summary, log = geak_run(w, "t-refused", "--k", "3", "--iterations", "2", "--no-llm-check")
    assert rc == 1 and summary["status"] == "failed", (summary, log[-3000:])
    assert time.monotonic() - t0 < 30
    assert "HTTP 404: model 'x' not found" in log and "event=run_stopping" in log
    # no retries of a refused request, at the HTTP level or the run's
    assert len(llm_requests(w)) <= 3
    assert redis(w, "HGET", "geak:run:t-refused", "status") == "failed"
    assert "llm_refused" in redis(w, "HGET", "geak:run:t-refused", "reason")
    p = subprocess.run([GEAK, "status", "t-refused"], capture_output=True, text=True, timeout=30,
                       cwd=ROOT, env=dict(os.environ, **w.env))
    assert p.returncode == 0, p.stderr
    assert "run t-refused: failed" in p.stdout and "reason: llm_refused: POST" in p.stdout
    p = subprocess.run([GEAK, "status", "t-refused", "--json"], capture_output=True, text=True,
                       timeout=30, cwd=ROOT, env=dict(os.environ, **w.env))
    assert "HTTP 404" in json.loads(p.stdout)["reason"]


def test_nothing_configured_runs_the_embedded_deployment_and_keeps_its_data(world, tmp_path):
    """No GEAK_BROKER, no GEAK_REDIS_*: private services and a private Redis whose data
    stays in the state directory, so status, report and resume find the run again."""
    w = world
    replay = tmp_path / "replay.jsonl"
    replay.write_text(json.dumps({"role": "generator", "task": "gelu", "reply": fenced(REFERENCE)}) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEAK_REDIS", "GEAK_BROKER"))}
    env.update(GEAK_STATE_DIR=str(tmp_path / "state"), TRITON_INTERPRET="1", GEAK_LOG_LEVEL="warn")
    def geak(*args):
        return subprocess.run([GEAK, *args], capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    p = geak("run", "--tasks", str(w.tasks), "--llm", f"replay:{replay}", "--run-id", "t-embedded",
             "--k", "1", "--iterations", "1", "--quiet")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "no broker configured" in p.stderr and "using a private one, data in" in p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["passes"] == 1
    port_file = tmp_path / "state" / "redis" / "redis.port"
    assert not port_file.exists()                        # the private Redis was shut down at the end
    p = geak("status", "t-embedded")
    assert p.returncode == 0 and "run t-embedded: done" in p.stdout, p.stderr[-2000:]
    p = geak("run", "--resume", "t-embedded", "--quiet")
    assert p.returncode == 0 and json.loads(p.stdout.splitlines()[-1])["attempts_new"] == 0, p.stderr[-2000:]
    p = geak("store", "check", "t-embedded")
    assert p.returncode == 0 and "0 problems" in p.stdout, p.stdout


def test_kill_9_of_an_evaluator_mid_scan(world):
    """Runs last: it replaces the module's evaluator."""
    w = world
    script(w, {GEN: fenced(SLOW), OPT: fenced(SLOW.replace("BLOCK = 16", "BLOCK = 16  # v2"))})
    run = "t-evalkill"
    requeued = broker_stats(w)["requeued"]
    cmd = [GEAK, "run", "--broker", w.endpoint, "--tasks", str(w.tasks), "--run-id", run,
           "--k", "1", "--iterations", "2"]
    err = open(w.logs / "run-t-evalkill.log", "wb")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
                         env=dict(os.environ, **w.env))

    def evaluating():
        a = attempt(w, f"{run}.gelu.0.0")
        busy = broker_stats(w)["services"].get("geak.evaluator", {}).get("busy", 0)
        return a.get("status") == "pending" and busy >= 1
    wait_until(evaluating, timeout=60, interval=0.05, what="an evaluation in flight")
    w.evaluator.p.send_signal(signal.SIGKILL)
    w.evaluator.p.wait()
    w.evaluator.stop()
    w.evaluator = start_evaluator(w, "evaluator-2")
    out, _ = p.communicate(timeout=150)
    err.close()
    log = (w.logs / "run-t-evalkill.log").read_text()
    assert p.returncode == 0, log[-3000:]
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["status"] == "done" and summary["attempts"] == 2, summary
    ids = lineage(w, run, "gelu", 0)
    assert ids == [f"{run}.gelu.0.0", f"{run}.gelu.0.1"]
    assert [attempt(w, a)["error_class"] for a in ids] == ["pass", "pass"]
    # the broker handed the dead worker's request to the new evaluator:
    # a transport matter, never a candidate failure
    assert broker_stats(w)["requeued"] > requeued
    assert f"{run}.gelu.0.0:eval" in w.evaluator.log_text()


def test_zz_no_sanitizer_reports(world):
    """Runs last: every service of the module stops cleanly and no log (the
    services', the killed and resumed runs') holds a sanitizer report."""
    w = world
    for p in w.services + [w.evaluator]:
        assert p.stop() == 0, p.log_text()[-3000:]
    w.services = []
    logs = list(w.logs.iterdir())
    assert len(logs) > 10
    for path in logs:
        data = path.read_bytes()
        for needle in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:"):
            assert needle not in data, (path, data[-3000:])
