"""Rotary position embedding (GPT-NeoX half-split) task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, b, s, h, d):
    return {"dtype": dtype, "b": b, "s": s, "h": h, "d": d, "label": "%s B%d S%d H%d D%d" % (dtype, b, s, h, d)}


def correctness_cases(interpreted):
    cases = [("float32", 1, 8, 2, 64), ("float16", 2, 5, 3, 32), ("bfloat16", 1, 3, 1, 128),
             ("float32", 0, 4, 2, 16), ("float32", 1, 1, 1, 2), ("float16", 1, 7, 5, 6), ("float32", 2, 3, 4, 80)]
    if not interpreted:
        cases += [("bfloat16", 4, 1024, 32, 128), ("float16", 1, 4097, 8, 96), ("float32", 1, 2048, 16, 256),
                  ("float16", 3, 100, 1, 64)]
    return [_case(*c) for c in cases]


def perf_cases(interpreted):
    return [_case("float16", 4, 4096, 32, 128), _case("float32", 8, 4096, 16, 64)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    b, s, h, d = case["b"], case["s"], case["h"], case["d"]
    x = torch.randn(b, s, h, d, generator=g, device=device).to(DT[case["dtype"]])
    half = d // 2
    inv_freq = 10000.0 ** (-torch.arange(half, device=device, dtype=torch.float32) * 2.0 / d)
    pos = torch.arange(s, device=device, dtype=torch.float32) + float(seed % 97)  # an offset: tables are not cached
    ang = pos[:, None] * inv_freq[None, :]
    return (x, torch.cos(ang).contiguous(), torch.sin(ang).contiguous())


def oracle(x, cos, sin):
    half = x.shape[-1] // 2
    xf = x.float()
    x1, x2 = xf[..., :half], xf[..., half:]
    c = cos.float()[None, :, None, :]
    s = sin.float()[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).to(x.dtype)


def bytes_moved(case):
    n = case["b"] * case["s"] * case["h"] * case["d"]
    return 2 * n * DT[case["dtype"]].itemsize + 4 * case["s"] * case["d"]


def flops(case):
    return 3 * case["b"] * case["s"] * case["h"] * case["d"]
