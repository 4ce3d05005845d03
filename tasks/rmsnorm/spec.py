"""RMSNorm forward task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, m, n, eps=1e-6):
    return {"dtype": dtype, "m": m, "n": n, "eps": eps, "label": "%s %dx%d eps=%g" % (dtype, m, n, eps)}


def correctness_cases(interpreted):
    cases = [_case("float32", 8, 1000), _case("float16", 4, 4097), _case("bfloat16", 3, 333),
             _case("float32", 0, 64), _case("float32", 2, 1), _case("float16", 17, 256, 1e-5),
             _case("float32", 2, 5000), _case("float32", 3, 40, 0.5)]
    if not interpreted:
        cases += [_case("float32", 1024, 8191), _case("bfloat16", 2048, 4096), _case("float16", 100000, 96),
                  _case("bfloat16", 64, 65536, 1e-5)]
    return cases


def perf_cases(interpreted):
    return [_case("float16", 16384, 4096), _case("float32", 32768, 1024)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    m, n = case["m"], case["n"]
    x = (torch.randn(m, n, generator=g, device=device) * 2.0 + 0.3).to(dt)
    if m >= 2:  # a row of zeros: only eps keeps it finite
        x[1] = 0
    w = (1.0 + 0.2 * torch.randn(n, generator=g, device=device)).to(dt)
    return (x, w, float(case["eps"]))


def oracle(x, weight, eps):
    xf = x.double()
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps) * weight.double()
    return y.to(x.dtype)


def bytes_moved(case):
    return (2 * case["m"] * case["n"] + case["n"]) * DT[case["dtype"]].itemsize


def flops(case):
    return 4 * case["m"] * case["n"]
