"""Bounded memory of `ct_vqgan` trained from files (issue 26): peak RSS training from 8 and from 64 volumes.

Writes N int16 HU volumes with nibabel into a temporary folder (deleted afterwards), then, in a fresh process for each
count, trains `ct_vqgan` (the ci model, 30 steps, then its evaluation) from the folder through the prepared cache and
reports the process's peak RSS (`resource.getrusage`). Target: RSS(64) <= 1.1 x RSS(8).

    python bench/ct_memory.py [--shape 302 256 256] [--counts 8 64] [--steps 30]

Measured (2 shared CPU cores, `--shape 151 128 128`, not the default 302x256x256 for lack of time): 8 volumes
905 MiB, 64 volumes 981 MiB: ratio 1.084 (before evaluation stopped keeping each volume's memory map: 1.418).
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np


def write_volumes(folder: Path, n: int, shape) -> None:
    "n int16 HU volumes (air, a body ellipsoid of soft tissue, a bone slab, noise), written by nibabel itself."
    import nibabel as nib
    folder.mkdir(parents=True, exist_ok=True)
    D, H, W = shape
    z, y, x = np.ogrid[:D, :H, :W]
    for i in range(n):
        g = np.random.default_rng(i)
        dy = g.integers(-8, 8)
        body = ((z - D / 2) / (0.45 * D)) ** 2 + ((y - H / 2 - dy) / (0.4 * H)) ** 2 + ((x - W / 2) / (0.42 * W)) ** 2
        body = body < 1
        v = np.where(body, 40, -1000).astype(np.int16)
        v[:, H // 2 - 8:H // 2 + 8, W // 3:W // 3 + 12] = 700 + 10 * i
        v += g.integers(-20, 21, v.shape, dtype=np.int16)
        nib.save(nib.Nifti1Image(v.T, np.diag([0.7, 0.7, 1.0, 1.0])), str(folder / f'volume_{i + 1:03d}.nii.gz'))


def child(data_dir: str, work: str, steps: int) -> None:
    "Train and evaluate from `data_dir` in this (fresh) process; print peak RSS."
    from medlab.workflows.ct_vqgan import CTVQGANConfig, run_ct_vqgan
    t = time.time()
    cfg = CTVQGANConfig.ci(data_dir=data_dir, runs_root=str(Path(work) / 'runs'), cache_dir=str(Path(work) / 'cache'),
                           epochs=1, steps_per_epoch=steps, num_workers=0, val_ids=('volume_001',), timing_every=10)
    rd = run_ct_vqgan(cfg)
    ev = json.loads((rd / 'evaluation.json').read_text())
    print(json.dumps({'n': len(list(Path(data_dir).glob('volume_*.nii.gz'))), 'seconds': round(time.time() - t, 1),
                      'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'psnr': ev['psnr']}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shape', type=int, nargs=3, default=[302, 256, 256])
    ap.add_argument('--counts', type=int, nargs='+', default=[8, 64])
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--child', nargs=3)
    a = ap.parse_args()
    if a.child: return child(a.child[0], a.child[1], int(a.child[2]))
    tmp = Path(tempfile.mkdtemp(prefix='ct_memory-'))
    try:
        t = time.time(); write_volumes(tmp / 'all', max(a.counts), a.shape)
        print(f"wrote {max(a.counts)} volumes of {tuple(a.shape)} int16 in {time.time() - t:.0f} s", flush=True)
        res = {}
        for n in a.counts:
            d = tmp / f'n{n}'; d.mkdir()
            for f in sorted((tmp / 'all').glob('volume_*.nii.gz'))[:n]: os.link(f, d / f.name)
            out = subprocess.run([sys.executable, __file__, '--child', str(d), str(tmp / f'work{n}'), str(a.steps)],
                                 capture_output=True, text=True)
            if out.returncode: sys.exit(f"child for {n} volumes failed:\n{out.stderr[-3000:]}")
            res[n] = json.loads(out.stdout.strip().splitlines()[-1]); print(res[n], flush=True)
        lo, hi = min(a.counts), max(a.counts)
        ratio = res[hi]['peak_rss_mib'] / res[lo]['peak_rss_mib']
        print(f"peak RSS {hi} volumes / {lo} volumes = {ratio:.3f} (target <= 1.1): {'OK' if ratio <= 1.1 else 'FAIL'}")
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()
