"""The role services behind a real broker, as separate processes: health,
two implementations under one service name, malformed and wrong-version
bodies answered with a classified ErrorReply while the service keeps serving,
clean shutdown (ASan's leak check runs at exit)."""
import os

import pytest

from geakproc import BIN, Proc, geak, start_broker, wait_until

ROLES = ["generator", "reflector", "optimizer"]


@pytest.fixture
def broker(tmp_path):
    proc, endpoint = start_broker(tmp_path, extra=["--heartbeat-ms", "200"])
    yield endpoint
    assert proc.stop() == 0, proc.log_text()


def start_role(tmp_path, role, endpoint, *extra):
    # The LLM roles need a provider; the replay provider needs no network.
    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"role": "generator", "task": "x", "reply": "```python\\nx = 1\\n```"}\n')
    env = {"GEAK_LLM_PROVIDER": "replay", "GEAK_LLM_REPLAY": str(replay),
           "GEAK_LLM_MODEL": "replay"}
    return Proc([os.path.join(BIN, f"geak-{role}"), "--broker", endpoint,
                 "--heartbeat-ms", "200", *extra],
                str(tmp_path / f"{role}-{len(list(tmp_path.iterdir()))}.log"), env=env)


def ping_ok(endpoint, service):
    rc, lines = geak("ping", "--timeout-ms", "3000", service, broker=endpoint)
    return lines[0] if rc == 0 and lines and lines[0].get("ok") else None


def test_every_role_answers_health(tmp_path, broker):
    procs = [start_role(tmp_path, role, broker) for role in ROLES]
    try:
        for role in ROLES:
            health = wait_until(lambda: ping_ok(broker, f"geak.{role}"), what=f"{role} health")
            assert health["service"] == f"geak.{role}"
            assert health["implementation"] == "llm"
            assert health["version"]
    finally:
        for p in procs:
            assert p.stop() == 0, p.log_text()


def test_two_implementations_serve_one_name(tmp_path, broker):
    a = start_role(tmp_path, "optimizer", broker, "--impl", "llm")
    b = start_role(tmp_path, "optimizer", broker, "--impl", "param-search")
    try:
        seen = set()

        def both_seen():
            health = ping_ok(broker, "geak.optimizer")
            if health:
                seen.add(health["implementation"])
            return seen == {"llm", "param-search"}
        wait_until(both_seen, what="both optimizer implementations answering")
    finally:
        assert a.stop() == 0 and b.stop() == 0


def test_malformed_and_wrong_version_bodies(tmp_path, broker):
    svc = start_role(tmp_path, "generator", broker, "--threads", "2")
    try:
        wait_until(lambda: ping_ok(broker, "geak.generator"), what="generator health")
        garbage = tmp_path / "garbage.bin"
        garbage.write_bytes(b"\xff\xfe\x00 definitely not a protobuf envelope")
        rc, lines = geak("call", "--body-file", str(garbage), "geak.generator", broker=broker)
        assert rc == 0 and lines[0]["error"] == "malformed", lines
        # version 2 envelope with a health body: field 1 = 2, field 10 = empty message
        wrong = tmp_path / "v2.bin"
        wrong.write_bytes(bytes([0x08, 0x02, 0x52, 0x00]))
        rc, lines = geak("call", "--body-file", str(wrong), "geak.generator", broker=broker)
        assert rc == 0 and lines[0]["error"] == "protocol", lines
        # version 1, same body: a valid health request through the raw path
        right = tmp_path / "v1.bin"
        right.write_bytes(bytes([0x08, 0x01, 0x52, 0x00]))
        rc, lines = geak("call", "--body-file", str(right), "geak.generator", broker=broker)
        assert rc == 0 and "error" not in lines[0] and lines[0]["body_case"] == 11, lines
        # an empty body is malformed too
        empty = tmp_path / "empty.bin"
        empty.write_bytes(b"")
        rc, lines = geak("call", "--body-file", str(empty), "geak.generator", broker=broker)
        assert rc == 0 and lines[0]["error"] == "malformed", lines
        # still serving, and the log has one structured line per rejection
        assert ping_ok(broker, "geak.generator")
        assert svc.log_text().count("event=malformed_request") == 3
    finally:
        assert svc.stop() == 0, svc.log_text()


def test_unsupported_request_is_refused_explicitly(tmp_path, broker):
    svc = start_role(tmp_path, "reflector", broker)
    try:
        wait_until(lambda: ping_ok(broker, "geak.reflector"), what="reflector health")
        # version 1 envelope, body field 15 (GenerateRequest) with task {name: "x"}
        body = bytes([0x08, 0x01, 0x7a, 0x05, 0x0a, 0x03, 0x12, 0x01, ord("x")])
        req = tmp_path / "gen.bin"
        req.write_bytes(body)
        rc, lines = geak("call", "--body-file", str(req), "geak.reflector", broker=broker)
        assert rc == 0 and lines[0]["error"] == "unsupported", lines
    finally:
        assert svc.stop() == 0


def test_bad_command_line_is_usage_error(tmp_path):
    p = Proc([os.path.join(BIN, "geak-generator"), "--threads", "zero"],
             str(tmp_path / "bad.log"))
    assert p.p.wait(30) == 2
    p.stop()
