"""Private framed channel between the fork server and its children.

A frame is: 8-byte little-endian header (json length, blob length), 32-byte
HMAC-SHA256 tag over json+blob, the json header, then the raw blob.  The key
is drawn by the fork server per child; a frame whose tag does not verify is
treated as forged (the reader raises WireError).  Tensors travel as raw bytes
plus dtype/shape in the json, never as pickles: the reader trusts nothing.
"""
import hashlib
import hmac
import json
import os
import select
import struct
import time

_HDR = struct.Struct("<II")
MAX_JSON = 16 << 20
MAX_BLOB = 8 << 30


class WireError(Exception):
    pass


class WireTimeout(Exception):
    pass


def _tag(key, js, blob):
    h = hmac.new(key, js, hashlib.sha256)
    if blob:
        h.update(blob)
    return h.digest()


def write_all(fd, data, deadline=None):
    """Write everything; with a deadline (fd non-blocking) raise WireTimeout when the reader does
    not take the bytes in time: a candidate that stops reading cannot stall the trusted side."""
    view = memoryview(data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireTimeout("peer does not read")
            _, w, _ = select.select([], [fd], [], left)
            if not w:
                raise WireTimeout("peer does not read")
        try:
            n = os.write(fd, view[:1 << 22])
        except BlockingIOError:
            continue
        view = view[n:]


def send(fd, key, obj, blob=b"", deadline=None):
    js = json.dumps(obj, separators=(",", ":")).encode()
    write_all(fd, _HDR.pack(len(js), len(blob)) + _tag(key, js, blob) + js, deadline)
    if blob:
        write_all(fd, blob, deadline)


class Reader:
    """Reads frames from fd with a deadline; raises EOFError at end of stream."""

    def __init__(self, fd, key, max_blob=MAX_BLOB):
        self.fd = fd
        self.key = key
        self.max_blob = max_blob  # checked on the header, before a byte of the body is buffered

    def _read_exact(self, n, deadline):
        chunks = bytearray()
        while len(chunks) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WireTimeout("deadline passed")
                r, _, _ = select.select([self.fd], [], [], left)
                if not r:
                    raise WireTimeout("deadline passed")
            b = os.read(self.fd, min(n - len(chunks), 1 << 22))
            if not b:
                if chunks:
                    raise WireError("truncated frame")
                raise EOFError
            chunks += b
        return bytes(chunks)

    def recv(self, deadline=None):
        head = self._read_exact(_HDR.size, deadline)
        jl, bl = _HDR.unpack(head)
        if jl > MAX_JSON or bl > self.max_blob:
            raise WireError("oversized frame (%d bytes; at most %d here)" % (bl, self.max_blob))
        try:
            tag = self._read_exact(32, deadline)
            js = self._read_exact(jl, deadline)
            blob = self._read_exact(bl, deadline) if bl else b""
        except EOFError:
            raise WireError("truncated frame")
        if not hmac.compare_digest(tag, _tag(self.key, js, blob)):
            raise WireError("frame with a bad tag (forged or corrupted)")
        try:
            obj = json.loads(js)
        except ValueError:
            raise WireError("frame with malformed json")
        if not isinstance(obj, dict):
            raise WireError("frame is not an object")
        return obj, blob


# ------------------------------------------------------------ tensor packing

def pack_value(value, keep_strides=False):
    """Encode a tensor / tuple / list / scalar structure -> (json-able desc, blob).
    keep_strides: also record the strides of a non-contiguous dense tensor (inputs keep their
    layout on the other side)."""
    import torch
    parts = []
    offset = [0]

    def enc(v):
        if isinstance(v, torch.Tensor):
            t = v.detach()
            stride = None
            if keep_strides and not t.is_contiguous() and t.numel() > 1 and _dense(t):
                stride = list(t.stride())
            if t.device.type != "cpu":
                t = t.cpu()
            t = _row_major(t)
            raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            d = {"t": "tensor", "dtype": str(t.dtype).replace("torch.", ""),
                 "shape": list(t.shape), "off": offset[0], "len": len(raw)}
            if stride is not None:
                d["stride"] = stride
            parts.append(raw)
            offset[0] += len(raw)
            return d
        if isinstance(v, (tuple, list)):
            return {"t": "tuple" if isinstance(v, tuple) else "list", "items": [enc(x) for x in v]}
        if v is None or isinstance(v, (bool, int, float, str)):
            if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                return {"t": "float", "v": repr(v)}
            return {"t": "py", "v": v}
        return {"t": "other", "type": type(v).__name__}

    desc = enc(value)
    return desc, b"".join(parts)


_DTYPES = None


def _row_major(t):
    """A copy in plain row-major layout unless t already is (contiguous() keeps odd strides of
    size-1 dimensions, which a byte view refuses)."""
    t = t.contiguous()
    want, acc = [], 1
    for n in reversed(t.shape):
        want.append(acc)
        acc *= n
    if list(t.stride()) != want[::-1] and t.numel() > 0:
        import torch
        out = torch.empty(t.shape, dtype=t.dtype)
        out.copy_(t)
        return out
    return t


def _dense(t):
    """No two elements share memory and no gaps: a layout the other side can rebuild."""
    try:
        return bool(t.is_non_overlapping_and_dense())
    except (AttributeError, RuntimeError):
        return False


def _dtype(name):
    global _DTYPES
    import torch
    if _DTYPES is None:
        _DTYPES = {n: getattr(torch, n) for n in (
            "float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64",
            "uint8", "bool", "float8_e4m3fn", "float8_e5m2", "complex64")
            if hasattr(torch, n)}
    if name not in _DTYPES:
        raise WireError("unknown dtype %r" % (name,))
    return _DTYPES[name]


def unpack_value(desc, blob):
    """Inverse of pack_value; validates everything (data comes from an untrusted child)."""
    import torch

    def dec(d, depth=0):
        if depth > 32 or not isinstance(d, dict):
            raise WireError("bad value description")
        t = d.get("t")
        if t == "tensor":
            dt = _dtype(d.get("dtype"))
            shape = d.get("shape")
            off, ln = d.get("off"), d.get("len")
            if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
                    or not isinstance(off, int) or not isinstance(ln, int)
                    or off < 0 or ln < 0 or off + ln > len(blob)):
                raise WireError("bad tensor description")
            n = 1
            for s in shape:
                n *= s
            esize = torch.empty(0, dtype=dt).element_size()
            if n * esize != ln:
                raise WireError("tensor size does not match its shape")
            if n == 0:
                return torch.empty(shape, dtype=dt)
            raw = bytearray(blob[off:off + ln])
            t = torch.frombuffer(raw, dtype=torch.uint8).view(dt).reshape(shape)
            stride = d.get("stride")
            if stride is not None:
                if (not isinstance(stride, list) or len(stride) != len(shape)
                        or not all(isinstance(x, int) and 0 <= x <= n for x in stride)):
                    raise WireError("bad tensor strides")
                out = torch.empty_strided(shape, stride, dtype=dt)
                if not _dense(out):
                    raise WireError("tensor strides overlap")
                out.copy_(t)
                t = out
            return t
        if t in ("tuple", "list"):
            items = d.get("items")
            if not isinstance(items, list):
                raise WireError("bad sequence")
            vals = [dec(x, depth + 1) for x in items]
            return tuple(vals) if t == "tuple" else vals
        if t == "py":
            return d.get("v")
        if t == "float":
            return float(d.get("v"))
        if t == "other":
            return _Opaque(str(d.get("type")))
        raise WireError("unknown value kind")

    return dec(desc)


class _Opaque:
    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return "<%s>" % self.type_name


def digest_tensors(values):
    """sha256 over the bytes + dtype + shape of every tensor in a structure."""
    import torch
    h = hashlib.sha256()

    def walk(v):
        if isinstance(v, torch.Tensor):
            t = v.detach()
            if t.device.type != "cpu":
                t = t.cpu()
            t = _row_major(t)
            h.update(("%s%s" % (t.dtype, tuple(t.shape))).encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
        else:
            h.update(repr(v).encode())

    walk(values)
    return h.hexdigest()
