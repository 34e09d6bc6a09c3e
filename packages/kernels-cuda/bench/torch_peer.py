# torch on the shapes of bench/device-bench.ts, in the same run on the same GPU, for comparison
# in docs/benchmarks.md: fp16/bf16 matmul and GEMV (cuBLAS), an fp16 GEMV standing in for the
# 4-bit GPTQ GEMV (torch has no GPTQ kernel of its own; the fp16 weight is 4x the bytes), and
# scaled_dot_product_attention, and cusolver's Cholesky factorisation and inverse
# (torch.linalg.cholesky, torch.cholesky_inverse). Prints one JSON object.
import json
import statistics

import torch


def time(name, work, unit, fn, repeats=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    median = statistics.median(times)
    rate = work / (median / 1000) / (1e12 if unit == "TFLOP/s" else 1e9)
    return {"name": name, "medianMs": median, "minMs": min(times), "maxMs": max(times), "rate": rate,
            "unit": unit, "peakAllocatedBytes": torch.cuda.max_memory_allocated()}


def main():
    torch.manual_seed(0)
    timings = []
    for dtype, label in [(torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        n = 4096
        a = torch.randn(n, n, device="cuda", dtype=dtype)
        w = torch.randn(n, n, device="cuda", dtype=dtype)
        timings.append(time(f"matmul {label} {n}x{n}x{n} (x @ W^T)", 2 * n**3, "TFLOP/s", lambda: a @ w.T))
        x = torch.randn(1, n, device="cuda", dtype=dtype)
        timings.append(time(f"matmul {label} GEMV 1x{n} @ {n}x{n}", n * n * 2, "GB/s", lambda: x @ w.T))
    for k, n in [(4096, 4096), (4096, 11008), (11008, 4096)]:
        w = torch.randn(n, k, device="cuda", dtype=torch.float16)
        x = torch.randn(1, k, device="cuda", dtype=torch.float16)
        timings.append(time(f"fp16 GEMV 1x{k} @ {k}x{n} (peer of the 4-bit GEMV)", n * k * 2, "GB/s", lambda: x @ w.T))
    heads, depth = 32, 128
    q = torch.randn(1, heads, 1, depth, device="cuda", dtype=torch.float16)
    k = torch.randn(1, heads, 4096, depth, device="cuda", dtype=torch.float16)
    v = torch.randn(1, heads, 4096, depth, device="cuda", dtype=torch.float16)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    timings.append(time("attention decode f16 32 heads, 4096 keys, D 128", 2 * heads * 4096 * depth * 2, "GB/s",
                        lambda: sdpa(q, k, v)))
    qp, kp, vp = (torch.randn(1, heads, 2048, depth, device="cuda", dtype=torch.float16) for _ in range(3))
    timings.append(time("attention prefill f16 32 heads, 2048 x 2048, D 128, causal",
                        2 * 2 * heads * 2048 * 2048 * depth / 2, "TFLOP/s", lambda: sdpa(qp, kp, vp, is_causal=True), 5))
    for k in [4096, 11008]:
        x = torch.randn(k, k, device="cuda")
        h = x @ x.T / k + torch.eye(k, device="cuda")
        del x
        timings.append(time(f"cholesky f32 {k}x{k}", k**3 / 3, "TFLOP/s", lambda: torch.linalg.cholesky(h), 5))
        factor = torch.linalg.cholesky(h)
        timings.append(time(f"choleskyInverse f32 {k}x{k}", 2 * k**3 / 3, "TFLOP/s",
                            lambda: torch.cholesky_inverse(factor), 5))
        del h, factor
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "timings": timings}, indent=2))


if __name__ == "__main__":
    main()
