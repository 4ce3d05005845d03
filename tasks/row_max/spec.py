"""Row-max task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, m, n, inf=False):
    return {"dtype": dtype, "m": m, "n": n, "inf": inf,
            "label": "%s %dx%d%s" % (dtype, m, n, " inf" if inf else "")}


def correctness_cases(interpreted):
    cases = [_case("float32", 8, 1000), _case("float16", 4, 4097), _case("bfloat16", 3, 333),
             _case("float32", 0, 64), _case("float32", 1, 1), _case("float16", 17, 1),
             _case("float32", 6, 130, inf=True), _case("bfloat16", 5, 2, inf=True), _case("float32", 2, 5000)]
    if not interpreted:
        cases += [_case("float32", 1024, 65537), _case("bfloat16", 4096, 4096, inf=True),
                  _case("float16", 100000, 7)]
    return cases


def perf_cases(interpreted):
    return [_case("float16", 16384, 8192), _case("float32", 2048, 32768), _case("bfloat16", 262144, 256)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, n = case["m"], case["n"]
    # all-negative rows in part: a kernel padding with 0 instead of -inf fails
    x = torch.randn(m, n, generator=g, device=device) * 3.0 - 2.0
    if case.get("inf") and x.numel():
        u = torch.rand(m, n, generator=g, device=device)
        x = torch.where(u < 0.3, float("-inf"), x)
        x = torch.where(u > 0.99, float("inf"), x)
        x[0] = float("-inf")  # a row of only -inf
    return (x.to(DT[case["dtype"]]),)


def oracle(x):
    return x.amax(dim=-1)


def bytes_moved(case):
    return (case["m"] * case["n"] + case["m"]) * DT[case["dtype"]].itemsize


def flops(case):
    return case["m"] * case["n"]
