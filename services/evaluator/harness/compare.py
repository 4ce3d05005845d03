"""Strict comparison of a candidate's outputs with the oracle's (fork-server side, CPU only)."""
import torch


def _dtype_name(dt):
    return str(dt).replace("torch.", "")


def compare(got, want, tol_for, nan_undefined=False):
    """-> (ok, max_abs, max_rel, message).  tol_for(dtype_name) -> {"atol","rtol"}.
    NaN policy (docs/tasks.md): a NaN of the reference is a value the candidate must produce too,
    except with nan_undefined (the check after timing, on perf inputs whose outputs the benchmark
    never compares): there an element the reference leaves NaN (unwritten memory reads NaN in the
    oracle's deterministic mode) is not compared."""
    worst = [0.0, 0.0]
    notes = []

    def fail(msg):
        return False, msg

    def cmp(g, w, where):
        if isinstance(w, torch.Tensor):
            if not isinstance(g, torch.Tensor):
                return fail("%s: expected a tensor, got %s" % (where, type(g).__name__ if not hasattr(g, "type_name") else g.type_name))
            if tuple(g.shape) != tuple(w.shape):
                return fail("%s: shape %s, expected %s" % (where, tuple(g.shape), tuple(w.shape)))
            if g.dtype != w.dtype:
                return fail("%s: dtype %s, expected %s" % (where, _dtype_name(g.dtype), _dtype_name(w.dtype)))
            if w.numel() == 0:
                return True, ""
            if not w.is_floating_point():
                if not torch.equal(g, w):
                    n = int((g != w).sum())
                    return fail("%s: %d of %d elements differ" % (where, n, w.numel()))
                return True, ""
            t = tol_for(_dtype_name(w.dtype))
            # float64 for exactness on check-sized tensors; float32 keeps big (perf) ones fast
            wide = torch.float64 if w.numel() <= (1 << 22) else torch.float32
            g64, w64 = g.to(wide), w.to(wide)
            wfin = torch.isfinite(w64)
            gfin = torch.isfinite(g64)
            # non-finite values must match the oracle exactly (NaN where NaN, same-signed Inf),
            # but for nan_undefined, where a reference NaN is not compared
            wnan = torch.isnan(w64)
            same_nf = (torch.isnan(g64) & wnan) | (g64 == w64)
            bad_nf = (~wfin | ~gfin) & ~((wnan if nan_undefined else same_nf) | same_nf)
            both = wfin & gfin
            diff = torch.where(both, (g64 - w64).abs(), torch.zeros_like(g64))
            rel = diff / w64.abs().clamp_min(1e-12)
            if diff.numel():
                worst[0] = max(worst[0], float(diff.max()))
                relm = torch.where(diff > 0, rel, torch.zeros_like(rel))
                worst[1] = max(worst[1], float(relm.max()))
            bad = bad_nf | (diff > (t["atol"] + t["rtol"] * w64.abs()))
            nbad = int(bad.sum())
            if nbad:
                idx = int(bad.reshape(-1).nonzero()[0])
                pos = tuple(int(i) for i in torch.unravel_index(torch.tensor(idx), w.shape)) if w.dim() else ()
                gv, wv = float(g64.reshape(-1)[idx]), float(w64.reshape(-1)[idx])
                nan_note = ""
                if bool(torch.isnan(g64).any()) and not bool(torch.isnan(w64).any()):
                    nan_note = " (NaN in output: elements left unwritten or invalid math)"
                elif wv != wv:
                    nan_note = " (the reference yields NaN there: NaN is compared as a value)"
                return fail("%s: %d of %d elements out of tolerance (atol=%g rtol=%g); first at %s: got %r, expected %r%s"
                            % (where, nbad, w.numel(), t["atol"], t["rtol"], pos, gv, wv, nan_note))
            nn = int(wnan.sum())
            if nn:
                notes.append("%s: the reference yields NaN in %d of %d elements (%s)"
                             % (where, nn, w.numel(), "not compared" if nan_undefined else "matched as NaN"))
            return True, ""
        if isinstance(w, (tuple, list)):
            if not isinstance(g, (tuple, list)):
                return fail("%s: expected a sequence of %d outputs, got %s" % (where, len(w), type(g).__name__))
            if len(g) != len(w):
                return fail("%s: %d outputs, expected %d" % (where, len(g), len(w)))
            for i, (a, b) in enumerate(zip(g, w)):
                ok, msg = cmp(a, b, "%s[%d]" % (where, i))
                if not ok:
                    return False, msg
            return True, ""
        if isinstance(w, float) and w != w and (nan_undefined or (isinstance(g, float) and g != g)):
            notes.append("%s: the reference yields NaN (%s)" % (where, "not compared" if nan_undefined
                                                                  else "matched as NaN"))
            return True, ""
        if isinstance(w, float) and isinstance(g, (int, float)):
            ok = abs(g - w) <= 1e-6 + 1e-6 * abs(w)
            return (True, "") if ok else fail("%s: got %r, expected %r" % (where, g, w))
        if g != w:
            return fail("%s: got %r, expected %r" % (where, g, w))
        return True, ""

    # a single-tensor oracle accepts a 1-tuple from the candidate and vice versa? no: strict.
    ok, msg = cmp(got, want, "output")
    if ok and notes:
        msg = "; ".join(notes[:4])
    return ok, worst[0], worst[1], msg


def nan_elements(want):
    """-> (NaN elements, float elements) of an oracle output structure."""
    if isinstance(want, torch.Tensor):
        if want.is_floating_point() or want.is_complex():
            return int(torch.isnan(want).sum()), want.numel()
        return 0, 0
    if isinstance(want, (tuple, list)):
        n = m = 0
        for w in want:
            a, b = nan_elements(w)
            n, m = n + a, m + b
        return n, m
    if isinstance(want, float):
        return (1 if want != want else 0), 1
    return 0, 0


def same_bits(a, b):
    """Bitwise equality of two output structures (NaNs compare equal)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.numel() == 0:
            return True
        return bool(torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_bits(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
