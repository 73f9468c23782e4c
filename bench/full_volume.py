"""Full-resolution sliding-window inference: medlab vs MONAI on the CT seed's volume (issue 19).

Setup: one 512x512x604 float32 volume (604 MB) as (1, 1, 512, 512, 604), 256x256x128 windows with stride 192x192x96
(overlap 0.25, the seed's patch grid: 3 x 3 x 6 = 54 windows), gaussian blending (MONAI has no linear mode),
sw_batch_size 2, torch threads = 1, under `torch.no_grad()`, and a cheap predictor: a pointwise Conv3d(1, 1, 1) with
fixed weights, so the exact answer is the predictor applied to the whole volume (the max error is printed).

Each measurement runs in a fresh subprocess (implementations interleaved over the repeats): the imports, the input and
the predictor are made first (plus one tiny warm-up call, so kernels and allocator pools exist), then the peak RSS
(VmHWM) is reset to the current RSS through /proc/self/clear_refs when the kernel allows, and one call is timed.
MALLOC_MMAP_THRESHOLD_ is fixed so glibc's sliding mmap threshold adds no noise. Printed, medians over the repeats:

- time, as a ratio to MONAI's (target <= 0.9), wall clock and also the process's CPU time (one thread, so the two
  agree on a quiet machine; on a shared one the CPU time is the steadier figure);
- peak RSS rise during the call, as a ratio to MONAI's (target <= 0.8);
- peak RSS rise above the loaded input, as a multiple of the output's bytes (target <= 1.5: one output buffer and
  the windows in flight, nothing else of full size).

Too big for CI (about 3 GB of RAM per MONAI child, minutes of CPU); run it by hand on a quiet machine:
    .venv-bench/bin/python bench/full_volume.py [--repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MMAP_THRESHOLD = '131072'
SHAPE, PATCH, OVERLAP, SW_BATCH = (1, 1, 512, 512, 604), (256, 256, 128), 0.25, 2
IMPLS = ('medlab', 'monai')

if os.environ.get('MALLOC_MMAP_THRESHOLD_') != MMAP_THRESHOLD:      # re-exec with the allocator pinned
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=MMAP_THRESHOLD, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def vm_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'): return int(line.split()[1])
    raise RuntimeError(f'no {field} in /proc/self/status')


def child(impl):
    import torch
    torch.set_num_threads(1)
    if impl == 'medlab':
        from medlab.patches import sliding_window_inference
        run = lambda x, f: sliding_window_inference(x, f, PATCH, overlap=OVERLAP, mode='gaussian', sw_batch_size=SW_BATCH)
    else:
        from monai.inferers import sliding_window_inference as monai_swi
        run = lambda x, f: monai_swi(x, PATCH, SW_BATCH, f, overlap=OVERLAP, mode='gaussian')
    net = torch.nn.Conv3d(1, 1, 1)
    with torch.no_grad():
        net.weight.fill_(0.75); net.bias.fill_(-0.25)
    net.eval()
    x = torch.rand(SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): run(torch.rand(1, 1, 300, 300, 150), net)     # warm-up on a small volume
    reset = False
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')        # VmHWM := current RSS
        reset = True
    except OSError: pass
    base = vm_kib('VmHWM' if reset else 'VmRSS')
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad(): y = run(x, net)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = vm_kib('VmHWM')
    out_bytes = y.numel() * y.element_size()
    with torch.no_grad():                                                # the exact answer, slab by slab (memory no longer measured)
        err = max(float((y[..., i:i + 64] - net(x[..., i:i + 64])).abs().max()) for i in range(0, SHAPE[-1], 64))
    print(json.dumps({'impl': impl, 'time_s': dt, 'cpu_s': cpu, 'rise_mib': (peak - base) / 1024, 'out_mib': out_bytes / 2**20,
                      'in_mib': x.numel() * 4 / 2**20, 'max_err': err, 'hwm_reset': reset, 'shape': list(y.shape)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--child', choices=IMPLS)
    a = ap.parse_args()
    if a.child: return child(a.child)
    print(f"full-volume sliding window: input {SHAPE} float32, window {PATCH}, overlap {OVERLAP} (stride 192x192x96), gaussian, "
          f"sw_batch_size {SW_BATCH}, 1 thread, pointwise Conv3d(1, 1, 1); {a.repeats} repeats, a fresh process per run, "
          f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_')}", flush=True)
    res = {i: [] for i in IMPLS}
    for r in range(a.repeats):
        for impl in (IMPLS if r % 2 == 0 else IMPLS[::-1]):               # interleaved, alternating order
            out = subprocess.run([sys.executable, __file__, '--child', impl], capture_output=True, text=True, env=os.environ)
            if out.returncode: raise RuntimeError(out.stderr)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            res[impl].append(m)
            print(f"  run {r + 1} {impl:>6}: {m['time_s']:6.2f} s (CPU {m['cpu_s']:6.2f} s), peak RSS rise {m['rise_mib']:7.1f} MiB "
                  f"({m['rise_mib'] / m['out_mib']:.2f}x the output), max |out - f(x)| {m['max_err']:.2e}, "
                  f"VmHWM reset: {m['hwm_reset']}", flush=True)
    med = {i: {k: statistics.median(v[k] for v in res[i]) for k in ('time_s', 'cpu_s', 'rise_mib', 'max_err')} for i in IMPLS}
    out_mib = res['medlab'][0]['out_mib']
    m, o = med['medlab'], med['monai']
    print(f"\nmedians: medlab {m['time_s']:.2f} s, {m['rise_mib']:.0f} MiB;  MONAI {o['time_s']:.2f} s, {o['rise_mib']:.0f} MiB;  "
          f"output {out_mib:.0f} MiB, input {res['medlab'][0]['in_mib']:.0f} MiB")
    print(f"time medlab / MONAI:                          {m['time_s'] / o['time_s']:.3f}x   (target <= 0.9; "
          f"CPU time {m['cpu_s'] / o['cpu_s']:.3f}x, the figure a busy machine distorts least)")
    print(f"peak RSS rise medlab / MONAI:                 {m['rise_mib'] / o['rise_mib']:.3f}x   (target <= 0.8)")
    print(f"peak RSS rise above the input / output bytes: {m['rise_mib'] / out_mib:.3f}x   (target <= 1.5; MONAI "
          f"{o['rise_mib'] / out_mib:.2f}x)")
    print(f"max error vs the predictor on the whole volume: medlab {m['max_err']:.2e}, MONAI {o['max_err']:.2e}")


if __name__ == '__main__':
    main()
