"""Benchmark medlab.data against the seed's patterns.

1. Peak RSS to build `FramePairs` over 2050x256x256 float32 frames (and read every sample) vs holding the
   frames alone, each in a fresh subprocess; the seed's fancy-indexing pairs are shown for reference.
   Target: FramePairs / frames <= 1.05.
2. Batches/s of one loader over a `ConcatDataset` of 50 sequences vs one loader per sequence (the seed's
   "hundreds of DataLoaders per epoch"), with 0 and 2 workers.

Run from the repository root:
    .venv-bench/bin/python bench/data.py
Options: --repeats N (default 3), --skip-rss, --skip-loader
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

N_FRAMES, H, W = 2050, 256, 256


def _rss_child(mode: str):
    "Run in a fresh interpreter: build the frames (and pairs, per mode), print peak RSS in MiB."
    import numpy as np
    import torch
    from medlab.data import FramePairs
    frames = np.empty((N_FRAMES, H, W), np.float32)
    np.random.default_rng(0).random(out=frames, dtype=np.float32)   # fills in place: no temporary
    targets = {'leaves': np.zeros((N_FRAMES, 2, 60), np.float32), 'jaws': np.zeros((N_FRAMES, 4), np.float32),
               'mu': np.zeros(N_FRAMES, np.float32)}
    acc = 0.0
    if mode == 'framepairs':
        ds = FramePairs(frames, targets)
        for k in range(len(ds)):                      # touch every sample: builds the cache, reads views
            s = ds[k]; acc += float(s['curr'][0, 0]) + float(s['prev_mu'])
    elif mode == 'fancy':                             # the seed's v6 pairs: frames[idx] copies twice
        idx = np.arange(1, N_FRAMES - 1)
        prev, curr = frames[idx], frames[idx + 1]
        acc += float(prev[0, 0, 0] + curr[0, 0, 0])
    elif mode != 'frames': raise ValueError(mode)
    acc += float(frames[-1, 0, 0])
    print(json.dumps({'mode': mode, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'acc': acc}))


def rss_bench(repeats: int):
    res = {}
    for mode in ('frames', 'framepairs', 'fancy'):
        vals = []
        for _ in range(repeats):
            out = subprocess.run([sys.executable, __file__, '--child', mode], capture_output=True, text=True, check=True)
            vals.append(json.loads(out.stdout.strip().splitlines()[-1])['peak_rss_mib'])
        res[mode] = statistics.median(vals)
        print(f"  peak RSS {mode:>10}: median {res[mode]:8.1f} MiB  (runs: {', '.join(f'{v:.1f}' for v in vals)})", flush=True)
    gib = N_FRAMES * H * W * 4 / 2**20
    print(f"  frames array itself: {gib:.1f} MiB")
    print(f"  FramePairs / frames alone = {res['framepairs'] / res['frames']:.3f}x  (target <= 1.05x); "
          f"extra {res['framepairs'] - res['frames']:.1f} MiB")
    print(f"  seed fancy-indexing pairs / frames alone = {res['fancy'] / res['frames']:.3f}x")
    return res


def loader_bench(repeats: int, n_seq=50, n_frames=66, size=128, batch_size=16):
    import torch
    from medlab.data import ConcatDataset, ConsecutiveBatchSampler, FramePairs, make_loader
    g = torch.Generator().manual_seed(0)
    seqs = [FramePairs(torch.rand(n_frames, size, size, generator=g),
                       {'mu': torch.rand(n_frames, generator=g), 'jaws': torch.rand(n_frames, 4, generator=g)})
            for _ in range(n_seq)]
    cat = ConcatDataset(seqs)
    print(f"  {n_seq} sequences x {n_frames - 2} pairs of {size}x{size}, batch_size={batch_size}")
    for nw in (0, 2):
        t_one, t_many, nb_one, nb_many = [], [], 0, 0
        for r in range(repeats):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                sampler = ConsecutiveBatchSampler(cat, batch_size, shuffle=True, seed=r)
            nb_one = sum(1 for _ in make_loader(cat, batch_sampler=sampler, num_workers=nw, pin_memory=False))
            t_one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            nb_many = 0
            for s in seqs:
                nb_many += sum(1 for _ in make_loader(s, batch_size, shuffle=True, seed=r, num_workers=nw, pin_memory=False))
            t_many.append(time.perf_counter() - t0)
        assert nb_one == nb_many, (nb_one, nb_many)
        bps_one, bps_many = nb_one / statistics.median(t_one), nb_many / statistics.median(t_many)
        print(f"  num_workers={nw}: one ConcatDataset loader {bps_one:8.1f} batches/s | one loader per sequence "
              f"{bps_many:8.1f} batches/s | ratio {bps_one / bps_many:.2f}x  ({nb_one} batches/epoch, median of {repeats})", flush=True)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--child'); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--skip-rss', action='store_true'); ap.add_argument('--skip-loader', action='store_true')
    a = ap.parse_args()
    if a.child: _rss_child(a.child); sys.exit(0)
    import torch
    torch.set_num_threads(1)
    print(f"medlab.data benchmark (torch {torch.__version__}, python {sys.version.split()[0]})")
    if not a.skip_rss:
        print(f"1. peak RSS, fresh subprocess per measurement, {N_FRAMES}x{H}x{W} float32 frames")
        rss_bench(a.repeats)
    if not a.skip_loader:
        print("2. loader throughput")
        loader_bench(a.repeats)
