"""Flip (reverse the last dimension) task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
      "int32": torch.int32, "int64": torch.int64}


def _case(dtype, m, n):
    return {"dtype": dtype, "m": m, "n": n, "label": "%s %dx%d" % (dtype, m, n)}


def correctness_cases(interpreted):
    cases = [("float32", 8, 1000), ("float16", 3, 4097), ("bfloat16", 5, 333), ("int32", 7, 129),
             ("int64", 2, 65), ("float32", 0, 16), ("float32", 4, 0), ("float32", 1, 1), ("float16", 33, 1),
             ("int32", 1, 2), ("float32", 17, 31)]
    if not interpreted:
        cases += [("float32", 128, 65537), ("bfloat16", 4096, 4095), ("int64", 3, 1 << 20)]
    return [_case(d, m, n) for d, m, n in cases]


def perf_cases(interpreted):
    return [_case("float16", 8192, 8192), _case("int64", 16384, 1000)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    shape = (case["m"], case["n"])
    if dt.is_floating_point:
        x = torch.randn(shape, generator=g, device=device).to(dt)
    else:
        x = torch.randint(-(1 << 30), 1 << 30, shape, generator=g, device=device, dtype=dt)
    return (x,)


def oracle(x):
    return torch.flip(x, dims=(-1,)).contiguous()


def bytes_moved(case):
    return 2 * case["m"] * case["n"] * DT[case["dtype"]].itemsize


def flops(case):
    return 0
