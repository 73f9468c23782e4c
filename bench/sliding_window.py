"""Benchmark medlab.patches.sliding_window_inference against MONAI and TorchIO.

Setup (issue 5): a 1x1x256x256x128 float32 volume, 96^3 windows, overlap 0.5, gaussian blending
(TorchIO has no gaussian: its closest, 'hann', is used), sw_batch_size 4, torch threads = 1, under
`torch.no_grad()`, for three predictors: identity, pointwise (sigmoid(2x - 1)) and a small 3-D conv net
(Conv3d 1->4, 3^3, ReLU, Conv3d 4->1, 1^3). A network adds its own time and memory to every implementation
alike, pulling the total and memory ratios towards 1; the overhead ratio is the figure that isolates the
inference machinery. Everything is measured in one run:

- total time: CPU time (`time.process_time`, one thread; wall time with --device cuda), implementations
  interleaved within each repeat; the ratio to MONAI is the median over the 15 (--repeats) interleaved pairs
  medlab_i / MONAI_i, which a shared machine distorts least;
- overhead: total minus the predictor's own time on the same window batches, as a ratio to MONAI's overhead.
  The predictor's time is clocked around each of its calls inside the same run (a wrapper), which cancels the
  noise of a shared machine; the predictor timed alone on pre-extracted batches is printed as a cross-check;
- peak extra memory: growth of the process's VmHWM in a fresh subprocess per implementation and predictor,
  with every import, the input and the predictor made before the baseline (and the high-water mark reset
  there through /proc/self/clear_refs when the kernel allows), MALLOC_MMAP_THRESHOLD_ fixed so glibc's
  sliding mmap threshold adds no noise; as a ratio to MONAI's;
- max abs error against the exact answer for the pointwise predictor (f applied to the whole volume).

Targets: total <= 0.8x MONAI, overhead <= 0.5x MONAI's, memory <= 0.8x MONAI's, error <= 1e-5.

Run from the repository root:
    .venv-bench/bin/python bench/sliding_window.py
Options: --repeats N (default 15; the conv predictor uses ceil(N/2)), --skip-mem, --device cuda (GPU run,
memory from torch.cuda.max_memory_allocated).
"""
import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time

MMAP_THRESHOLD = '131072'   # glibc's initial value, fixed: every allocation above 128 KiB is mmapped and returned on free
SHAPE, PATCH, OVERLAP, SW_BATCH = (1, 1, 256, 256, 128), 96, 0.5, 4
IMPLS = ('medlab', 'monai', 'torchio')
PREDICTORS = ('identity', 'pointwise', 'conv')

if os.environ.get('MALLOC_MMAP_THRESHOLD_') != MMAP_THRESHOLD:      # re-exec with the allocator pinned
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=MMAP_THRESHOLD, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import torch                                   # noqa: E402
import monai.inferers                          # noqa: E402
import torchio as tio                          # noqa: E402
from medlab.patches import sliding_window_inference, patch_starts   # noqa: E402

torch.set_num_threads(1)


def make_predictor(name, device):
    if name == 'identity': return lambda t: t
    if name == 'pointwise': return lambda t: torch.sigmoid(t * 2.0 - 1.0)
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 1, 1))
    with torch.no_grad():
        for p in net.parameters(): p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net.eval().to(device)


def make_input(device):
    g = torch.Generator().manual_seed(0)
    return torch.rand(SHAPE, generator=g).to(device)


def run_medlab(x, pred):
    return sliding_window_inference(x, pred, PATCH, overlap=OVERLAP, mode='gaussian', sw_batch_size=SW_BATCH)


def run_monai(x, pred):
    return monai.inferers.sliding_window_inference(x, (PATCH,) * 3, SW_BATCH, pred, overlap=OVERLAP, mode='gaussian')


def run_torchio(x, pred):
    subject = tio.Subject(img=tio.ScalarImage(tensor=x[0].cpu()))
    sampler = tio.inference.GridSampler(subject, PATCH, int(PATCH * OVERLAP))
    loader = torch.utils.data.DataLoader(sampler, batch_size=SW_BATCH)
    agg = tio.inference.GridAggregator(sampler, overlap_mode='hann')
    for batch in loader:
        agg.add_batch(pred(batch['img'][tio.DATA].to(x.device)), batch[tio.LOCATION])
    return agg.get_output_tensor()[None]


RUN = {'medlab': run_medlab, 'monai': run_monai, 'torchio': run_torchio}


def window_batches(impl, x):
    "The window batches each implementation feeds its predictor, pre-extracted (contiguous)."
    if impl == 'torchio':
        subject = tio.Subject(img=tio.ScalarImage(tensor=x[0].cpu()))
        sampler = tio.inference.GridSampler(subject, PATCH, int(PATCH * OVERLAP))
        return [b['img'][tio.DATA].to(x.device) for b in torch.utils.data.DataLoader(sampler, batch_size=SW_BATCH)]
    stride = int(PATCH * (1 - OVERLAP))
    grid = patch_starts(SHAPE[2:], PATCH, stride)
    wins = [x[0, :, a:a + PATCH, b:b + PATCH, c:c + PATCH] for a, b, c in itertools.product(*grid)]
    return [torch.stack(wins[i:i + SW_BATCH]).contiguous() for i in range(0, len(wins), SW_BATCH)]


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def clock(device):
    "CPU time of this process on the CPU (one thread: the work itself, not the machine's other tenants); wall on GPUs."
    return time.perf_counter() if device.type == 'cuda' else time.process_time()


def timed(fn, device):
    sync(device); t0 = clock(device); out = fn(); sync(device)
    return clock(device) - t0, out


def vm_hwm_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'): return int(line.split()[1])
    raise RuntimeError('no VmHWM in /proc/self/status')


def mem_child(impl, pname, device):
    "Fresh interpreter: everything imported and built, then the peak growth of one call."
    device = torch.device(device)
    x, pred = make_input(device), make_predictor(pname, device)
    reset = False
    if device.type == 'cuda':
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.max_memory_allocated()
    else:
        try:
            with open('/proc/self/clear_refs', 'w') as f: f.write('5')    # reset VmHWM to the current RSS
            reset = True
        except OSError: pass
        base = vm_hwm_kib() * 1024
    with torch.no_grad(): y = RUN[impl](x, pred)
    sync(device)
    peak = torch.cuda.max_memory_allocated() if device.type == 'cuda' else vm_hwm_kib() * 1024
    print(json.dumps({'impl': impl, 'pred': pname, 'extra_mib': (peak - base) / 2**20, 'hwm_reset': reset,
                      'out_shape': list(y.shape)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=15)
    ap.add_argument('--skip-mem', action='store_true')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--mem-child', nargs=2, metavar=('IMPL', 'PRED'))
    a = ap.parse_args()
    if a.mem_child: return mem_child(*a.mem_child, a.device)
    device = torch.device(a.device)
    print(f"sliding-window benchmark: input {SHAPE}, window {PATCH}^3, overlap {OVERLAP}, gaussian (TorchIO: hann), "
          f"sw_batch_size {SW_BATCH}, torch threads {torch.get_num_threads()}, device {device}, "
          f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_')}", flush=True)
    x = make_input(device)
    x_before = x.clone()
    res = {}
    with torch.no_grad():
        for pname in PREDICTORS:
            pred = make_predictor(pname, device)
            reps = a.repeats if pname != 'conv' else max(1, math.ceil(a.repeats / 2))
            batches = {impl: window_batches(impl, x) for impl in ('medlab', 'torchio')}
            batches['monai'] = batches['medlab']                 # same grid, same windows
            for impl in IMPLS: RUN[impl](x, pred)                  # warm-up (allocators, oneDNN kernels)
            tot = {i: [] for i in IMPLS}; alone = {i: [] for i in ('medlab', 'torchio')}; outs = {}
            inrun = {i: [] for i in IMPLS}; pclock = [0.0]

            def clocked(t):
                sync(device); t0 = clock(device); y = pred(t); sync(device)
                pclock[0] += clock(device) - t0
                return y

            for _ in range(reps):
                for impl in IMPLS:
                    pclock[0] = 0.0
                    t, outs[impl] = timed(lambda: RUN[impl](x, clocked), device)
                    tot[impl].append(t); inrun[impl].append(t - pclock[0])
                for impl in alone:
                    t, _ = timed(lambda: [pred(b) for b in batches[impl]], device); alone[impl].append(t)
            assert torch.equal(x, x_before), 'an implementation modified its input'
            alone['monai'] = alone['medlab']
            exact = pred(x).float()
            r = {}
            for impl in IMPLS:
                T, P, O = statistics.median(tot[impl]), statistics.median(alone[impl]), statistics.median(inrun[impl])
                err = float((outs[impl].to(exact.device).float().reshape(exact.shape) - exact).abs().max())
                r[impl] = {'total_s': T, 'predictor_alone_s': P, 'overhead_s': O, 'overhead_vs_alone_s': T - P,
                           'n_windows': sum(len(b) for b in batches[impl]), 'max_err_vs_f(x)': err,
                           'total_pair': statistics.median(a / b for a, b in zip(tot[impl], tot['monai'])),
                           'overhead_pair': statistics.median(a / b for a, b in zip(inrun[impl], inrun['monai']))}
            res[pname] = r
            print(f"\n[{pname}] {reps} repeats (medians)", flush=True)
            for impl in IMPLS:
                v = r[impl]
                print(f"  {impl:>8}: total {v['total_s']*1e3:8.1f} ms  overhead {v['overhead_s']*1e3:7.1f} ms  "
                      f"(predictor alone {v['predictor_alone_s']*1e3:7.1f} ms, total - alone {v['overhead_vs_alone_s']*1e3:7.1f} ms)  "
                      f"windows {v['n_windows']:3d}  max|out - f(x)| {v['max_err_vs_f(x)']:.2e}", flush=True)
    if not a.skip_mem:
        print("\npeak extra memory (fresh subprocess each):", flush=True)
        for pname in PREDICTORS:
            for impl in IMPLS:
                out = subprocess.run([sys.executable, __file__, '--mem-child', impl, pname, '--device', a.device],
                                     capture_output=True, text=True, env=os.environ)
                if out.returncode: raise RuntimeError(out.stderr)
                m = json.loads(out.stdout.strip().splitlines()[-1])
                res[pname][impl]['extra_mib'] = m['extra_mib']
                print(f"  [{pname:>9}] {impl:>8}: {m['extra_mib']:7.1f} MiB  (VmHWM reset at baseline: {m['hwm_reset']})", flush=True)
    print("\nsummary, medlab / MONAI, medians of the interleaved per-repeat ratios (targets: total <= 0.7, "
          "overhead <= 0.5, memory <= 0.8; pointwise error <= 1e-5):")
    for pname in PREDICTORS:
        m, o = res[pname]['medlab'], res[pname]['monai']
        line = f"  [{pname:>9}] total {m['total_pair']:.3f}x   overhead {m['overhead_pair']:.3f}x"
        if 'extra_mib' in m: line += f"   memory {m['extra_mib'] / o['extra_mib']:.3f}x"
        t = res[pname]['torchio']
        line += f"   | TorchIO/MONAI: total {t['total_pair']:.2f}x"
        print(line)
    pw = res['pointwise']
    print(f"  pointwise max error vs exact f(x): medlab {pw['medlab']['max_err_vs_f(x)']:.2e}, "
          f"MONAI {pw['monai']['max_err_vs_f(x)']:.2e}, TorchIO {pw['torchio']['max_err_vs_f(x)']:.2e}")


if __name__ == '__main__':
    main()
