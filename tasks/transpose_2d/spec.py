"""2-D transpose task: oracle, inputs and cases (exact: a pure data movement)."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int32": torch.int32}


def correctness_cases(interpreted):
    cases = [("float32", 64, 48), ("float16", 37, 70), ("bfloat16", 3, 333), ("int32", 129, 65), ("float32", 0, 16),
             ("float32", 16, 0), ("float16", 1, 1), ("float32", 1, 300), ("float16", 300, 1), ("bfloat16", 100, 17)]
    if not interpreted:
        cases += [("float32", 4097, 3001), ("float16", 8192, 8192), ("bfloat16", 1, 1 << 20), ("int32", 1 << 20, 3),
                  ("float16", 123, 45678)]
    return [{"dtype": d, "m": m, "n": n, "label": "%s %dx%d" % (d, m, n)} for d, m, n in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 8192, "n": 12288, "label": "float16 8192x12288"},
            {"dtype": "float32", "m": 4096, "n": 16384, "label": "float32 4096x16384"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, n = case["m"], case["n"]
    if case["dtype"] == "int32":
        x = torch.randint(-(1 << 31), (1 << 31) - 1, (m, n), generator=g, device=device, dtype=torch.int32)
    else:
        x = torch.randn(m, n, generator=g, device=device).to(DT[case["dtype"]])
    return (x,)


def oracle(x):
    return x.t().contiguous()


def bytes_moved(case):
    return 2 * case["m"] * case["n"] * DT[case["dtype"]].itemsize


def flops(case):
    return 0
