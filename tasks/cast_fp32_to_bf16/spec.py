"""float32 -> bfloat16 / float16 cast task: oracle, inputs and cases.

The inputs mix raw random float32 bit patterns (every exponent: subnormals, inf, NaN)
with values whose exponent lies around the target's range and, for a quarter of them,
whose dropped mantissa bits are an exact tie (round-half-to-even decides), plus a fixed
prefix of special values.
"""
import math

import torch

DT = {"float16": torch.float16, "bfloat16": torch.bfloat16}

_SPECIALS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1.0, -1.0,
             65504.0, 65520.0, 65519.99609375, -65520.0, 3.4028234663852886e38, -3.4028234663852886e38,
             1.401298464324817e-45, -1.401298464324817e-45, 1.1754943508222875e-38,
             2.0 ** -24, 2.0 ** -25, 3.0 * 2.0 ** -26, 2.0 ** -26, -(2.0 ** -25),
             1.0 + 2.0 ** -8, 1.0 + 3.0 * 2.0 ** -8, 1.0 + 2.0 ** -11, 1.0 + 3.0 * 2.0 ** -11,
             -(1.0 + 2.0 ** -8), 1.0 + 2.0 ** -8 + 2.0 ** -23, 3.3895313892515355e38, 3.3961775292304437e38]


def _case(to, shape):
    return {"to": to, "shape": list(shape), "label": "float32->%s %s" % (to, "x".join(map(str, shape)))}


def correctness_cases(interpreted):
    cases = [("bfloat16", (1000,)), ("float16", (4097,)), ("bfloat16", (0,)), ("bfloat16", (1,)),
             ("float16", (1,)), ("bfloat16", (33, 65)), ("float16", (3, 7, 11)), ("bfloat16", (2, 0, 5))]
    if not interpreted:
        cases += [("bfloat16", ((1 << 20) + 3,)), ("float16", (4096, 1023)), ("bfloat16", (1 << 22,))]
    return [_case(t, s) for t, s in cases]


def perf_cases(interpreted):
    return [_case("bfloat16", (1 << 26,)), _case("float16", (8192, 8192))]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    shape = tuple(case["shape"])
    n = math.prod(shape)
    i64 = torch.int64

    def ri(lo, hi):
        return torch.randint(lo, hi, (n,), generator=g, device=device, dtype=i64)

    raw = ri(0, 1 << 32)  # any float32 bit pattern
    sign = ri(0, 2) << 31
    if case["to"] == "bfloat16":
        exp = ri(0, 256)
        low_mask, half = 0xFFFF, 0x8000
    else:
        exp = ri(127 - 27, 127 + 17)  # around float16's range: underflow to 0 .. overflow to inf
        low_mask, half = 0x1FFF, 0x1000
    mant = ri(0, 1 << 23)
    tie = ri(0, 4) == 0
    mant = torch.where(tie, (mant & ~low_mask) | half, mant)
    shaped = sign | (exp << 23) | mant
    bits = torch.where(ri(0, 2) == 0, raw, shaped)
    bits = torch.where(bits >= (1 << 31), bits - (1 << 32), bits).to(torch.int32)
    x = bits.view(torch.float32).clone()
    k = min(n, len(_SPECIALS))
    if k:
        x[:k] = torch.tensor(_SPECIALS[:k], dtype=torch.float32, device=device)
    return (x.reshape(shape), case["to"])


def oracle(x, dtype_name):
    return x.to(DT[dtype_name])


def bytes_moved(case):
    return 6 * math.prod(case["shape"])


def flops(case):
    return 0
