"""Cross-entropy (mean over non-ignored rows) task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, m, v, ignore_index=-100, kind="randn"):
    return {"dtype": dtype, "m": m, "v": v, "ignore_index": ignore_index, "kind": kind,
            "label": "%s %dx%d ignore=%d %s" % (dtype, m, v, ignore_index, kind)}


def correctness_cases(interpreted):
    cases = [_case("float32", 8, 1000), _case("float16", 4, 4097), _case("bfloat16", 3, 333),
             _case("float32", 0, 10), _case("float32", 1, 1), _case("float32", 5, 50, kind="all_ignored"),
             _case("float16", 16, 7, ignore_index=3), _case("float32", 6, 3000, kind="shift")]
    if not interpreted:
        cases += [_case("bfloat16", 4096, 50257), _case("float32", 1024, 32000, kind="shift"),
                  _case("float16", 100000, 10, ignore_index=0), _case("bfloat16", 64, 256000)]
    return cases


def perf_cases(interpreted):
    return [_case("bfloat16", 8192, 50257), _case("float32", 4096, 32000), _case("float16", 32768, 8192)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, v, ii = case["m"], case["v"], case["ignore_index"]
    logits = torch.randn(m, v, generator=g, device=device) * 3.0
    if case["kind"] == "shift":  # large logits: exp() overflows without the max subtraction
        logits = logits + 1000.0 + 20.0 * torch.randn(m, 1, generator=g, device=device)
    t = torch.randint(0, v, (m,), generator=g, device=device, dtype=torch.int64)
    drop = torch.rand(m, generator=g, device=device) < 0.15
    if case["kind"] == "all_ignored":
        drop = torch.ones_like(drop)
    t = torch.where(drop, torch.full_like(t, ii), t)
    return (logits.to(DT[case["dtype"]]), t, int(ii))


def oracle(logits, targets, ignore_index=-100):
    x = logits.double()
    valid = targets != ignore_index
    safe = torch.where(valid, targets, torch.zeros_like(targets))
    rows = torch.logsumexp(x, dim=-1) - x.gather(1, safe[:, None])[:, 0] if x.shape[1] else x.new_zeros(x.shape[0])
    total = torch.where(valid, rows, torch.zeros_like(rows)).sum()
    return (total / valid.sum().double()).float()


def bytes_moved(case):
    return case["m"] * case["v"] * DT[case["dtype"]].itemsize + 8 * case["m"]


def flops(case):
    return 4 * case["m"] * case["v"]
