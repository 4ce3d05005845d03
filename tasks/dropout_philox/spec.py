"""Philox dropout task: oracle, inputs and cases.

The oracle reproduces Triton's tl.rand(seed, offset) bit for bit (triton/language/random.py):
Philox-4x32 with 10 rounds, counter (c0, c1, c2, c3) = (offset low 32 bits, offset high 32 bits
(0 for an int32 offset), 0, 0), key (k0, k1) = (seed low 32 bits, seed high 32 bits), round
constants A = 0xD2511F53, B = 0xCD9E8D57, key increments 0x9E3779B9 / 0xBB67AE85; per round
  c0' = hi(B * c2) ^ c1 ^ k0, c2' = hi(A * c0) ^ c3 ^ k1, c1' = lo(B * c2), c3' = lo(A * c0).
The uniform is from c0' of the last round: bit-cast to int32 x, x = ~x if x < 0, then
float32(x) * float32(4.6566127342e-10). 32x32-bit products are formed with 16-bit halves so
that nothing overflows int64.
"""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_M32 = 0xFFFFFFFF


def _mul_hi_lo(a, c):
    """a: int < 2^32, c: int64 tensor in [0, 2^32) -> (high, low) 32-bit halves of a * c."""
    p_hi = (c >> 16) * a      # < 2^48
    p_lo = (c & 0xFFFF) * a   # < 2^48
    hi = (p_hi + (p_lo >> 16)) >> 16
    lo = ((p_hi << 16) + p_lo) & _M32
    return hi & _M32, lo


def philox_uniform(seed, offsets):
    """tl.rand(seed, offsets) for int64 offsets tensor -> float32 tensor."""
    c0 = offsets & _M32
    c1 = (offsets >> 32) & _M32
    c2 = torch.zeros_like(c0)
    c3 = torch.zeros_like(c0)
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    for _ in range(10):
        hb, lb = _mul_hi_lo(0xCD9E8D57, c2)
        ha, la = _mul_hi_lo(0xD2511F53, c0)
        c0, c1, c2, c3 = hb ^ c1 ^ k0, lb, ha ^ c3 ^ k1, la
        k0 = (k0 + 0x9E3779B9) & _M32
        k1 = (k1 + 0xBB67AE85) & _M32
    x = torch.where(c0 >= (1 << 31), c0 - (1 << 32), c0)  # the int32 bit pattern
    x = torch.where(x < 0, -x - 1, x).to(torch.int32)     # ~x
    return x.to(torch.float32) * torch.tensor(4.6566127342e-10, dtype=torch.float32, device=offsets.device)


def correctness_cases(interpreted):
    # (dtype, shape, p, seed)
    cases = [("float32", [1000], 0.5, 1234), ("float16", [4097], 0.1, 0), ("bfloat16", [3, 333], 0.9, (1 << 33) + 7),
             ("float32", [0], 0.5, 1), ("float32", [1], 0.3, 42), ("float16", [77], 0.5, 1),
             ("float32", [64, 65], 0.0, 77), ("float16", [100], 1.0, 5), ("float32", [2, 3, 129], 0.25, (1 << 62) + 5),
             ("float32", [4096], 0.5, 2 ** 31 - 1)]
    if not interpreted:
        cases += [("float32", [(1 << 20) + 3], 0.2, 99), ("bfloat16", [4096, 4097], 0.5, 123456789),
                  ("float16", [1 << 22], 0.75, (1 << 40) + 3)]
    return [{"dtype": d, "shape": s, "p": p, "seed": sd,
             "label": "%s %s p=%g seed=%d" % (d, "x".join(map(str, s)), p, sd)} for d, s, p, sd in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "shape": [1 << 26], "p": 0.1, "seed": 2024, "label": "float16 n=2^26 p=0.1"},
            {"dtype": "float32", "shape": [8192, 8192], "p": 0.5, "seed": 7, "label": "float32 8192x8192 p=0.5"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    x = torch.randn(case["shape"], generator=g, device=device).to(DT[case["dtype"]])
    return (x, float(case["p"]), int(case["seed"]))


def oracle(x, p, seed):
    flat = x.reshape(-1).float()
    out = torch.empty_like(flat)
    scale = torch.tensor(0.0 if p >= 1.0 else 1.0 / (1.0 - p), dtype=torch.float32, device=x.device)
    pt = torch.tensor(p, dtype=torch.float32, device=x.device)
    chunk = 1 << 23
    for s in range(0, flat.numel(), chunk):
        e = min(s + chunk, flat.numel())
        r = philox_uniform(seed, torch.arange(s, e, dtype=torch.int64, device=x.device))
        out[s:e] = torch.where(r >= pt, flat[s:e] * scale, 0.0)
    return out.reshape(x.shape).to(x.dtype)


def _numel(case):
    n = 1
    for s in case["shape"]:
        n *= s
    return n


def bytes_moved(case):
    return 2 * _numel(case) * DT[case["dtype"]].itemsize


def flops(case):
    return 40 * _numel(case)
