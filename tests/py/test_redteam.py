"""Red team: hostile candidates against the real harness, with the isolation really on.

Every candidate here is a correct GELU kernel wrapped around an attack.  The attacks are written so
that their success is visible: either the candidate raises "ESCAPED: ..." (then the verdict is a
runtime_error naming it) or it leaves a trace on the host that the test looks for, or it tries to
make a wrong answer pass (then the verdict must stay a failure).  After every attack the same
fork server must keep serving, and a plain wrong answer must still fail: no candidate can change
the verdict of another.  docs/security.md lists the mechanisms; add a case whenever you find a
way in.
"""
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

# the harness tests' fixtures: a fork server of this module's own, and the small perf task
from test_harness import GELU, ForkServer, cand, evaluate, reference_code, server, small_perf_task  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
TASK_SPEC = os.path.join(GELU, "spec.py")
WRONG = cand("def gelu(x):\n    return launch(x, torch.empty_like(x)) + 1.0\n")


def escaped_check(lines):
    """Body of a gelu() that runs `lines` (which append to `esc` what got through), raises if
    anything did, and otherwise returns the right answer."""
    body = "def gelu(x):\n    esc = []\n    o = __import__('o' + 's')\n"
    for line in lines:
        body += "    " + line + "\n"
    body += "    if esc:\n        raise RuntimeError('ESCAPED: ' + repr(esc))\n"
    body += "    return launch(x, torch.empty_like(x))\n"
    return cand(body)


def try_(stmt, what):
    """One attempt inside escaped_check: stmt must raise; if it does not, `what` escaped."""
    return "try:\n        %s\n        esc.append(%r)\n    except Exception:\n        pass" % (stmt, what)


def brief(r):
    return {k: r.get(k) for k in ("error_class", "error_message", "sandbox", "timed", "speedup", "phases_ms", "timing_plan")} | {"trace": r.get("trace", "")[-1200:]}


def assert_still_judging(server):
    r = evaluate(server, reference_code())
    assert r["error_class"] == "pass", brief(r)
    r = evaluate(server, WRONG)
    assert r["error_class"] == "mismatch", brief(r)


# ------------------------------------------------------------------ the layers are really on

def test_every_layer_active(server):
    iso = server.isolation
    assert iso["missing"] == [], iso
    for layer in ("bwrap", "mountns", "pidns", "netns", "ipcns", "utsns", "seccomp", "nnp"):
        assert iso["layers"][layer] is True, (layer, iso)
    if os.geteuid() == 0:
        assert iso["layers"]["uid"] not in (0, None), iso


def test_layers_seen_from_inside(server):
    """The candidate itself checks its credentials, filter and namespaces."""
    lines = [
        "st = open('/proc/self/status').read()",
        "if 'Seccomp:\\t2' not in st: esc.append('no seccomp')",
        "if 'NoNewPrivs:\\t1' not in st: esc.append('no no_new_privs')",
        "if [l for l in st.splitlines() if l.startswith('CapEff:') and l.split()[1] != '0000000000000000']: "
        "esc.append('capabilities')",
        "if o.getuid() == 0 or o.geteuid() == 0: esc.append('root')",
        "if __import__('socket').gethostname() != 'geak-sandbox': esc.append('host uts')",
        "nets = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]",
        "if nets != ['lo']: esc.append('host network %r' % nets)",
        "pids = [p for p in o.listdir('/proc') if p.isdigit()]",
        "if len(pids) > 8: esc.append('host pids visible: %d' % len(pids))",
        "if o.path.exists(%r): esc.append('task dir visible')" % GELU,
        "if o.path.exists(%r): esc.append('oracle cache visible')" % server.cache,
        "if o.path.exists(%r): esc.append('tests visible')" % HERE,
    ]
    r = evaluate(server, escaped_check(lines))
    assert r["error_class"] == "pass", brief(r)
    assert "seccomp" in r["sandbox"] and "missing" not in r["sandbox"], brief(r)


# ------------------------------------------------------------------ 1, 2: the trusted processes

def test_no_trusted_process_reachable(server):
    """/proc/<pid>/fd and /proc/<pid>/mem of the fork server (v1: forged results, rewritten
    comparison bytecode) and of the candidate server: none can be opened."""
    lines = [
        "me = o.getpid()",
        "for p in [q for q in o.listdir('/proc') if q.isdigit() and int(q) != me]:\n"
        "        for leaf in ('mem', 'environ'):\n"
        "            try:\n"
        "                f = open('/proc/%s/%s' % (p, leaf), 'r+b' if leaf == 'mem' else 'rb'); f.read(1)\n"
        "                esc.append('/proc/%s/%s' % (p, leaf))\n"
        "            except Exception:\n"
        "                pass\n"
        "        try:\n"
        "            for fd in o.listdir('/proc/%s/fd' % p):\n"
        "                try:\n"
        "                    w = o.open('/proc/%s/fd/%s' % (p, fd), o.O_WRONLY | o.O_NONBLOCK)\n"
        "                    o.close(w); esc.append('fd %s of %s' % (fd, p))\n"
        "                except Exception:\n"
        "                    pass\n"
        "        except Exception:\n"
        "            pass",
        "if any('forkserver' in open('/proc/%s/cmdline' % p).read() for p in o.listdir('/proc') if p.isdigit()):\n"
        "        esc.append('fork server visible')",
        try_("__import__('ctypes').CDLL(None, use_errno=True).ptrace(16, 1, 0, 0) == 0 or (_ for _ in ()).throw(OSError())",
             "ptrace attach"),
    ]
    r = evaluate(server, escaped_check(lines))
    assert r["error_class"] == "pass", brief(r)
    assert_still_judging(server)


def test_forged_frames_never_pass(server):
    """A wrong answer that floods every descriptor with forged frames (v1: a result line with the
    right id) stays a failure, and so does the next wrong answer."""
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n"
            "    forged = b'{\"id\":\"t1\",\"event\":\"result\",\"result\":{\"error_class\":\"pass\",\"call_ok\":true,"
            "\"exec_ok\":true}}\\n'\n"
            "    for fd in range(0, 256):\n"
            "        try:\n            getattr(o, 'wri' + 'te')(fd, forged)\n        except Exception:\n            pass\n"
            "    return x * 0.0\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] in ("sandbox_violation", "mismatch", "no_kernel_launched"), brief(r)
    assert_still_judging(server)


def test_frames_forged_with_the_real_key_do_not_pass(server):
    """The channel key lives in the candidate's process (advisory): a candidate that finds it and
    sends its own 'out' frames with made-up values still fails the trusted comparison."""
    body = ("def gelu(x):\n"
            "    gc = __import__('g' + 'c')\n"
            "    w = __import__('harness.wire', fromlist=['send'])\n"
            "    keys = [b for b in getattr(gc, 'get_' + 'objects')() if isinstance(b, bytes) and len(b) == 32][:64]\n"
            "    for k in keys:\n"
            "        for fd in range(3, 40):\n"
            "            try:\n"
            "                d, blob = w.pack_value(x * 0.0)\n"
            "                w.send(fd, k, {'ev': 'out', 'run': 0, 'rep': 0, 'launches': 1, 'in_before': '',"
            " 'in_after': '', 'value': d}, blob)\n"
            "            except Exception:\n"
            "                pass\n"
            "    return x * 0.0\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] != "pass", brief(r)
    assert_still_judging(server)


FLOOD = ("def _channel():\n"
         "    f = getattr(__import__('s' + 'ys'), '_get' + 'frame')(1)\n"
         "    while f is not None:\n"
         "        loc = getattr(f, 'f_' + 'locals')\n"
         "        if 'key' in loc and 'data_w' in loc and isinstance(loc['key'], bytes):\n"
         "            return loc['key'], loc['data_w']\n"
         "        f = getattr(f, 'f_' + 'back')\n"
         "    raise RuntimeError('no channel found')\n\n")


def test_flooded_diagnostics_stay_bounded(server):
    """With the real key and descriptor (found by walking its own frames), a correct candidate
    floods its channel with every diagnostic event the protocol has, each oversized: the result
    stays small, the evaluation ends by its deadline, and the verdict is never our fault."""
    body = FLOOD + ("def gelu(x):\n    key, fd = _channel()\n"
                    "    w = __import__('harness.wire', fromlist=['send'])\n"
                    "    big = 'x' * 5000\n"
                    "    for i in range(500):\n"
                    "        w.send(fd, key, {'ev': 'limits', 'notes': [big] * 20})\n"
                    "        w.send(fd, key, {'ev': 'phase', 'phase': big})\n"
                    "        w.send(fd, key, {'ev': 'mark', 'what': big})\n"
                    "        w.send(fd, key, {'ev': 'violation', 'event': big, 'detail': big})\n"
                    "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] in ("pass", "sandbox_violation"), brief(r)
    assert len(json.dumps(r)) < 64 << 10, len(json.dumps(r))
    assert len(r["error_message"]) <= 4000
    assert_still_judging(server)


def test_patched_comparison_in_own_process_is_useless(server):
    body = ("def gelu(x):\n"
            "    c = __import__('harness.compare', fromlist=['compare'])\n"
            "    c.compare = lambda *a, **k: (True, 0.0, 0.0, '')\n"
            "    c.same_bits = lambda *a, **k: True\n"
            "    return launch(x, torch.empty_like(x)) * 3.0\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "mismatch", brief(r)


# ------------------------------------------------------------------ 3: the host filesystem

def test_host_files_unwritable_and_unreadable(server, tmp_path):
    marker = os.path.join(tempfile.gettempdir(), "geak-redteam-%d" % os.getpid())
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    os.chmod(victim, 0o644)
    harness_file = os.path.join(HERE, "..", "..", "services", "evaluator", "harness", "compare.py")
    before = open(harness_file, "rb").read()
    lines = [
        "try:\n        open(%r, 'w').write('x')\n    except Exception:\n        pass" % marker,
        try_("open(%r, 'w').write('pwned')" % str(victim), "host file write"),
        try_("o.chmod(%r, 0o777)" % str(victim), "host chmod"),
        try_("o.chown(%r, 0, 0)" % str(victim), "host chown"),
        try_("open(%r, 'a').write('#')" % os.path.abspath(harness_file), "harness edit"),
        try_("open(%r).read()" % TASK_SPEC, "task spec read"),
        try_("o.listdir(%r)" % server.cache, "oracle cache listing"),
        # dir_fd and integer-fd paths (v1's audit hook resolved strings only)
        "try:\n        d = o.open('/', o.O_RDONLY | o.O_DIRECTORY)\n"
        "        fd = o.open('usr/geak-pwn', o.O_WRONLY | o.O_CREAT, dir_fd=d)\n"
        "        esc.append('dir_fd create')\n    except Exception:\n        pass",
        try_("open('/usr/lib/geak-pwn', 'w')", "system dir write"),
        try_("open('/etc/shadow').read()", "shadow read"),
    ]
    r = evaluate(server, escaped_check(lines))
    assert r["error_class"] == "pass", brief(r)
    assert not os.path.exists(marker)
    assert victim.read_text() == "untouched" and (os.stat(victim).st_mode & 0o777) == 0o644
    assert open(harness_file, "rb").read() == before
    assert not os.path.exists("/usr/geak-pwn") and not os.path.exists("/usr/lib/geak-pwn")


def test_process_that_outlives_the_evaluation(server):
    """v1: _posixsubprocess.fork_exec raised no audit event, and a setsid shell outlived the
    evaluation.  Now the whole sandbox is wiped before the next candidate."""
    token = "geak-redteam-linger-%d" % os.getpid()
    body = ("def gelu(x):\n"
            "    sp = __import__('sub' + 'process')\n"
            "    try:\n"
            "        sp.Popen(['/bin/sh', '-c', 'exec -a %s sleep 600'], start_new_session=True)\n"
            "    except Exception:\n"
            "        pass\n"
            "    return launch(x, torch.empty_like(x))\n" % token)
    evaluate(server, cand(body))
    evaluate(server, reference_code())
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert token not in out


# ------------------------------------------------------------------ 4: the network

def test_network_and_setns_closed(server):
    hits = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                hits.append(c)
            except OSError:
                pass

    t = threading.Thread(target=accept)
    t.start()
    try:
        lines = [
            try_("__import__('soc' + 'ket').create_connection(('127.0.0.1', %d), timeout=1)" % port, "loopback"),
            "lib = __import__('ctypes').CDLL(None, use_errno=True)",
            "for p in [q for q in o.listdir('/proc') if q.isdigit()]:\n"
            "        try:\n"
            "            fd = o.open('/proc/%s/ns/net' % p, o.O_RDONLY)\n"
            "            if lib.setns(fd, 0) == 0: esc.append('setns via %s' % p)\n"
            "        except Exception:\n"
            "            pass",
            "if lib.unshare(0x10000000) == 0: esc.append('new user namespace')",
            "if lib.unshare(0x00020000) == 0: esc.append('new mount namespace')",
            try_("__import__('soc' + 'ket').create_connection(('127.0.0.1', %d), timeout=1)" % port,
                 "loopback after setns"),
        ]
        r = evaluate(server, escaped_check(lines))
    finally:
        stop.set()
        t.join()
        srv.close()
    assert r["error_class"] == "pass", brief(r)
    assert hits == []


# ------------------------------------------------------------------ 6: the trusted side's reads

def test_planted_links_and_fifos(server):
    """A FIFO and a link where the candidate's stderr goes: the trusted side never opens them and
    does not wedge (v1: 71 s and a leaked file)."""
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n"
            "    for n in ('stderr.txt', 'stdout.txt'):\n"
            "        try:\n            o.unlink(n)\n        except Exception:\n            pass\n"
            "    o.mkfifo('stderr.txt')\n    o.symlink('/etc/shadow', 'stdout.txt')\n"
            "    o.symlink(%r, 'spec.py')\n"
            "    getattr(o, '_ex' + 'it')(3)\n" % TASK_SPEC)
    t = time.monotonic()
    r = evaluate(server, cand(body))
    assert time.monotonic() - t < 20
    assert r["error_class"] == "runtime_error", brief(r)
    assert "root:" not in r.get("trace", "")
    assert_still_judging(server)


def test_huge_frame_refused_before_buffering(server):
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n"
            "    st = __import__('str' + 'uct')\n"
            "    hdr = st.pack('<II', 2, 0xFFFF0000) + b'\\0' * 32 + b'{}'\n"
            "    for fd in range(3, 12):\n"
            "        try:\n            getattr(o, 'wri' + 'te')(fd, hdr + b'\\0' * (1 << 20))\n"
            "        except Exception:\n            pass\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "sandbox_violation" and "oversized" in r["error_message"], brief(r)
    with open("/proc/%d/status" % server.proc.pid) as f:
        hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0]
    assert hwm < 1_500_000, "fork server peaked at %d kB" % hwm


def test_deep_tree_and_locked_dirs_cleaned(server):
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n"
            "    if o.path.exists('deep'):\n        return launch(x, torch.empty_like(x))\n"
            "    p = 'deep'\n"
            "    for i in range(300):\n        o.mkdir(p)\n        p = p + '/d'\n"
            "    o.makedirs('locked/inner')\n    open('locked/inner/f', 'w').write('x')\n"
            "    o.chmod('locked/inner', 0)\n    o.chmod('locked', 0)\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "pass", brief(r)
    server.send({"op": "ping"})
    starts = server.recv(60)["isolation"]["starts"]
    evaluate(server, reference_code())
    server.send({"op": "ping"})
    assert server.recv(60)["isolation"]["starts"] == starts  # cleaned, not restarted
    # and the next candidate sees none of it
    r = evaluate(server, escaped_check(["if o.path.exists('../') and [d for d in o.listdir('..') if d != o.path.basename(o.getcwd())]: esc.append('previous work dir %r' % o.listdir('..'))"]))
    assert r["error_class"] == "pass", brief(r)


def test_nothing_written_survives_into_the_next_candidate(server):
    """Whatever a candidate leaves anywhere in the sandbox (the tmpfs outside its own directory,
    the work root, /dev/shm) is gone before the next candidate runs."""
    places = ["/tmp/geak-rt-left", "/tmp/.geak-candidates/geak-rt-left", "/dev/shm/geak-rt-left"]
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n"
            "    for p in %r:\n"
            "        try:\n            open(p, 'w').write('left')\n        except Exception:\n            pass\n"
            "    try:\n        o.makedirs('/tmp/geak-rt-dir/a/b')\n    except Exception:\n        pass\n"
            "    return launch(x, torch.empty_like(x))\n" % places)
    r = evaluate(server, cand(body))
    assert r["error_class"] == "pass", brief(r)
    server.send({"op": "ping"})
    starts = server.recv(60)["isolation"]["starts"]
    lines = ["if o.path.exists(%r): esc.append(%r)" % (p, p) for p in places + ["/tmp/geak-rt-dir"]]
    r = evaluate(server, escaped_check(lines))
    assert r["error_class"] == "pass", brief(r)
    server.send({"op": "ping"})
    assert server.recv(60)["isolation"]["starts"] == starts  # wiped, not restarted


def test_kill_everything_in_reach(server):
    """kill(-1) from a candidate takes down only its own sandbox; the next evaluation is judged."""
    body = ("def gelu(x):\n    o = __import__('o' + 's')\n    s = __import__('sig' + 'nal')\n"
            "    o.kill(-1, s.SIGKILL)\n    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] in ("pass", "runtime_error"), brief(r)
    assert_still_judging(server)


def test_memory_limit_by_default(server):
    from test_harness import LIMITS
    lim = {k: v for k, v in LIMITS.items() if k != "as_mb"}
    r = evaluate(server, cand("def gelu(x):\n    junk = bytearray(16 << 30)\n    return launch(x, torch.empty_like(x))\n"),
                 limits=lim)
    assert r["error_class"] == "runtime_error" and "MemoryError" in r["error_message"], brief(r)


# ------------------------------------------------------------------ 6: our fault or theirs

@pytest.mark.parametrize("body,why", [
    ("class E(Exception):\n    def __str__(self):\n        raise ValueError('no')\n"
     "    def __repr__(self):\n        raise ValueError('no')\n\ndef gelu(x):\n    raise E()\n", "str raises"),
    ("def gelu(x):\n    return torch.empty(x.shape, device='meta')\n", "meta tensor"),
    ("def gelu(x):\n    a = [launch(x, torch.empty_like(x))]\n    a.append(a)\n    return a\n", "self-containing"),
    ("def gelu(x):\n    class T:\n        pass\n    return T()\n", "not a tensor"),
])
def test_candidate_faults_are_never_ours(server, body, why):
    r = evaluate(server, cand(body))
    assert r["error_class"] in ("runtime_error", "mismatch"), (why, brief(r))


# ------------------------------------------------------------------ 7: correct code passes

def test_size_one_output_with_odd_stride(server):
    body = ("def gelu(x):\n    out = torch.empty_like(x)\n    launch(x, out)\n"
            "    if out.numel() == 1:\n        return out.as_strided(out.shape, [7] * out.dim())\n"
            "    return out\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "pass", brief(r)


def test_autotune_under_interpreter(server):
    code = '''
import torch
import triton
import triton.language as tl


@triton.autotune(configs=[triton.Config({"BLOCK": 256}), triton.Config({"BLOCK": 1024})], key=["n"])
@triton.jit
def _k(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


def gelu(x):
    x = x.contiguous()
    out = torch.empty_like(x)
    n = x.numel()
    if n:
        _k[lambda m: (triton.cdiv(n, m["BLOCK"]),)](x, out, n)
    return out
'''
    r = evaluate(server, code)
    assert r["error_class"] == "pass", brief(r)


# ------------------------------------------------------------------ classic reward hacks

def test_deferred_work_in_a_thread(server):
    body = ("def gelu(x):\n    th = __import__('thre' + 'ading')\n    out = torch.empty_like(x)\n"
            "    t = th.Timer(0.5, lambda: launch(x, out))\n    t.start()\n    return out\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] in ("mismatch", "no_kernel_launched"), brief(r)


def test_deferred_work_in_another_process(server):
    body = ("def gelu(x):\n    mp = __import__('multi' + 'processing')\n    out = torch.empty_like(x)\n"
            "    p = mp.get_context('fork').Process(target=lambda: launch(x, out))\n    p.start()\n"
            "    return out\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] in ("mismatch", "no_kernel_launched", "runtime_error"), brief(r)
    assert r["error_class"] != "pass"


@pytest.mark.parametrize("source,refused", [
    ("import sys\nx = sys.version_info\n", None),               # benchmark gold imports sys
    ("import multiprocessing\nn = multiprocessing.cpu_count()\n", None),
    ("import torch\ntorch.backends.cudnn.allow_tf32 = True\n", None),
    ("import torch as T\nT.backends.cuda.matmul.allow_tf32 = False\n", None),
    ("import sys\nsys.settrace(print)\n", "settrace"),
    ("import sys\nm = sys.modules\n", "modules"),
    ("import multiprocessing as mp\np = mp.Process(target=print)\n", "multiprocessing.Process"),
    ("from multiprocessing import Pool\n", "import Pool"),
    ("import multiprocessing.dummy\n", "multiprocessing.dummy"),
    ("from multiprocessing.pool import ThreadPool\n", "ThreadPool"),
    ("import torch\ntorch.cuda.synchronize = print\n", "assignment"),
    ("import torch\ntorch.backends = None\n", "assignment"),
])
def test_screen_admits_benchmark_gold_lines_and_no_more(source, refused):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "..", "services", "evaluator", "harness"))
    from screen import screen
    r = screen(source)
    if refused is None:
        assert r is None, r
    else:
        assert r and r[0] == "forbidden_construct" and refused in r[1], r


def test_lazy_tensor_subclass(server):
    body = ("class Lazy(torch.Tensor):\n    pass\n\n"
            "def gelu(x):\n    out = torch.empty_like(x).as_subclass(Lazy)\n    return out\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] != "pass", brief(r)


def test_caching_by_pointer(server):
    body = ("_memo = {}\n\ndef gelu(x):\n    k = (x.data_ptr(), tuple(x.shape))\n"
            "    if k not in _memo:\n        _memo[k] = launch(x, torch.empty_like(x))\n    return _memo[k]\n")
    r = evaluate(server, cand(body), check_determinism=True)
    assert r["error_class"] in ("pass", "mismatch"), brief(r)
    # what must not happen: an answer cached from another input passing on new values
    body = ("_memo = []\n\ndef gelu(x):\n    if _memo and _memo[0].shape == x.shape:\n        return _memo[0]\n"
            "    _memo.append(launch(x, torch.empty_like(x)))\n    return _memo[0]\n")
    r = evaluate(server, cand(body))
    assert r["error_class"] == "mismatch", brief(r)


def test_correct_only_for_the_first_calls(server, small_perf_task):
    # right for the first calls on the perf input (calibration), wrong once it is being timed
    body = ("_n = [0]\n\ndef gelu(x):\n    _n[0] += x.numel() == 2048\n    out = launch(x, torch.empty_like(x))\n"
            "    return out if _n[0] <= 3 else out * 0.5\n")
    r = evaluate(server, cand(body), task=small_perf_task, mode="full", time_on_cpu=True, perf_reps=15)
    assert r["error_class"] == "mismatch" and "after timing" in r["error_message"], brief(r)


def test_patched_timer_in_own_process(server, small_perf_task):
    """A candidate that replaces the timer's clock in its own process and sleeps in every call:
    the trusted clock around each batch sees the time it hides."""
    body = ("def gelu(x):\n"
            "    ch = __import__('harness.child', fromlist=['_Timer'])\n"
            "    if not getattr(ch, '_patched', False):\n"
            "        import time as _t\n"
            "        real = _t.perf_counter\n"
            "        ch.time.perf_counter = lambda: real() / 1000.0\n"
            "        for obj in getattr(__import__('g' + 'c'), 'get_' + 'objects')():\n"
            "            if type(obj).__name__ == '_Timer':\n"
            "                obj.perf_counter = lambda: real() / 1000.0\n"
            "        ch._patched = True\n"
            "    __import__('time').sleep(0.003)\n"
            "    return launch(x, torch.empty_like(x))\n")
    r = evaluate(server, cand(body), task=small_perf_task, mode="full", time_on_cpu=True, perf_reps=15)
    assert r["error_class"] == "implausible_timing", brief(r)


def test_server_survived_the_red_team(server):
    server.send({"op": "ping"})
    pong = server.recv(60)
    assert pong["op"] == "pong" and pong["pid"] == server.pid
    assert_still_judging(server)


# ------------------------------------------------------------------ a host without the layers

def test_require_isolation_refuses_without_bwrap(tmp_path):
    """PATH without bubblewrap: with --require-isolation every evaluation is refused as our fault,
    naming the missing layer; without it the result names every missing layer."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("ps", "sh", "cc", "gcc"):
        for d in ("/usr/bin", "/bin"):
            if os.path.exists(os.path.join(d, tool)):
                os.symlink(os.path.join(d, tool), bindir / tool)
                break
    env_path = str(bindir)
    old = os.environ["PATH"]
    os.environ["PATH"] = env_path
    try:
        strict = ForkServer(str(tmp_path / "c1"))
    finally:
        os.environ["PATH"] = old
    try:
        strict.send({"op": "ping"})
        iso = strict.recv(120)["isolation"]
        assert "error" in iso and "bwrap" in iso["error"], iso
        r = evaluate(strict, reference_code())
        assert r["error_class"] == "harness_error" and "isolation required" in r["error_message"], brief(r)
    finally:
        strict.close()
    # without --require-isolation: runs, and says what is missing
    os.environ["PATH"] = env_path
    try:
        loose = ForkServer(str(tmp_path / "c2"), require=False)
    finally:
        os.environ["PATH"] = old
    try:
        r = evaluate(loose, reference_code())
        assert r["error_class"] == "pass", brief(r)
        assert "missing=" in r["sandbox"] and "mountns" in r["sandbox"] and "bwrap" in r["sandbox"], brief(r)
    finally:
        loose.close()
