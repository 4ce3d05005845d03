"""Row-wise argmax task: oracle, inputs and cases.

The oracle spells out the rule (first NaN, else first maximum) with masked minima
over column indices instead of relying on torch.argmax's tie behaviour.
"""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, m, n, kind="randn"):
    return {"dtype": dtype, "m": m, "n": n, "kind": kind, "label": "%s %dx%d %s" % (dtype, m, n, kind)}


def correctness_cases(interpreted):
    cases = [_case("float32", 8, 1000), _case("float16", 4, 4097, "ties"), _case("bfloat16", 3, 333, "ties"),
             _case("float32", 0, 64), _case("float32", 1, 1), _case("float16", 9, 1, "nan"),
             _case("float32", 6, 130, "nan"), _case("bfloat16", 5, 3000, "nan"), _case("float32", 7, 64, "inf"),
             _case("float16", 33, 17, "ties")]
    if not interpreted:
        cases += [_case("float32", 1024, 65537, "ties"), _case("bfloat16", 4096, 4096, "nan"),
                  _case("float16", 100000, 7, "inf")]
    return cases


def perf_cases(interpreted):
    return [_case("float16", 16384, 8192), _case("float32", 4096, 16384, "ties"), _case("bfloat16", 2048, 128256)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, n, kind = case["m"], case["n"], case["kind"]
    x = torch.randn(m, n, generator=g, device=device) * 3.0 - 1.0
    if kind == "ties":  # few distinct values: many rows have several maxima
        x = torch.randint(-6, 3, (m, n), generator=g, device=device).float()
    elif x.numel() and kind in ("nan", "inf"):
        u = torch.rand(m, n, generator=g, device=device)
        if kind == "nan":  # about half the rows get NaNs, some rows several
            rows = torch.rand(m, 1, generator=g, device=device) < 0.5
            x = torch.where(rows & (u < 2.0 / n + 0.002), float("nan"), x)
        else:
            x = torch.where(u < 0.4, float("-inf"), x)
            x = torch.where(u > 0.995, float("inf"), x)
            x[0] = float("-inf")  # a row of only -inf -> 0
    return (x.to(DT[case["dtype"]]),)


def oracle(x):
    m, n = x.shape
    xf = x.float()
    idx = torch.arange(n, device=x.device, dtype=torch.int64).expand(m, n)
    big = torch.full_like(idx, n)
    nan = torch.isnan(xf)
    first_nan = torch.where(nan, idx, big).amin(dim=-1)
    mx = torch.where(nan, float("-inf"), xf).amax(dim=-1, keepdim=True)
    first_max = torch.where(xf == mx, idx, big).amin(dim=-1)
    return torch.where(first_nan < n, first_nan, first_max)


def bytes_moved(case):
    return case["m"] * case["n"] * DT[case["dtype"]].itemsize + 8 * case["m"]


def flops(case):
    return case["m"] * case["n"]
