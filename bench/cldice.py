"""Benchmark soft-clDice against skeleton recall on a 1x1x64x128x128 volume (CPU), time and peak memory.

The target is a set of synthetic curved tubes of radius 2 to 6 voxels; the prediction is noisy logits of it.
Each configuration runs forward+backward in a fresh interpreter. Peak memory: the kernel's resident-set high-water
mark (VmHWM) is reset through /proc/self/clear_refs right before the first call, and the figure reported is
VmHWM - VmRSS at that moment: the peak extra memory of one forward+backward (cache fills and all).

Configurations:
- `dice`: medlab `dice_loss` (a cheap reference)
- `cldice_auto`: `SoftClDiceLoss(iters=None)`: iterations from the target's taxicab distance transform, every call
- `cldice_fixed`: `SoftClDiceLoss(iters=max_radius(target))`
- `cldice_ckpt`: the same with `checkpoint=True` (skeleton iterations recomputed in backward)
- `monai_cldice`: MONAI `SoftclDiceLoss(iter_=max_radius(target))`, the peer (same soft skeleton; checked equal)
- `skelrec_first`: `SkeletonRecallLoss`, cache miss: scikit-image skeletonize + dilation, then the loss
- `skelrec_cached`: `SkeletonRecallLoss`, cache hit (every later epoch of the same sample)

Run from the repository root:
    .venv-bench/bin/python bench/cldice.py
Options: --repeats N (default 5), --threads T (torch intra-op threads, default 1: the 2-core machine is shared)
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import time

SHAPE = (1, 1, 64, 128, 128)
CONFIGS = ('dice', 'cldice_auto', 'cldice_fixed', 'cldice_ckpt', 'monai_cldice', 'skelrec_first', 'skelrec_cached')


def make_inputs():
    import numpy as np
    import torch
    from scipy.ndimage import distance_transform_edt
    rng = np.random.default_rng(0)
    D, H, W = SHAPE[2:]
    mask = np.zeros((D, H, W), bool)
    zz, yy, xx = np.meshgrid(np.arange(D), np.arange(H), np.arange(W), indexing='ij')
    for k, r in enumerate((2, 3, 4, 5, 6, 3, 2, 4)):
        line = np.zeros((D, H, W), bool)           # a random smooth curve across the volume, then thickened by r
        t = np.linspace(0, 1, 400)
        p0, p1, p2 = rng.uniform(0, 1, (3, 3)) * [D - 1, H - 1, W - 1]
        pts = ((1 - t)[:, None] ** 2 * p0 + 2 * ((1 - t) * t)[:, None] * p2 + t[:, None] ** 2 * p1).round().astype(int)
        line[pts[:, 0], pts[:, 1], pts[:, 2]] = True
        mask |= distance_transform_edt(~line) <= r
    target = torch.from_numpy(mask).float()[None, None]
    g = torch.Generator().manual_seed(0)
    logits = (target * 2 - 1) * 2 + torch.randn(SHAPE, generator=g)
    return target, logits


def _status():
    "VmRSS and VmHWM of this process in KiB."
    with open('/proc/self/status') as f:
        return {l.split(':')[0]: int(l.split()[1]) for l in f if l.startswith(('VmRSS', 'VmHWM'))}


def child(cfg: str, repeats: int, threads: int, inputs: str):
    import numpy as np
    import scipy.ndimage, skimage.morphology   # imported before the baseline: their code is not the loss's memory
    import torch
    torch.set_num_threads(threads)
    from medlab.losses import SkeletonRecallLoss, SoftClDiceLoss, dice_loss, max_radius
    d = np.load(inputs)                        # made by the parent: no generation temporaries in this peak
    target, logits = torch.from_numpy(d['target']), torch.from_numpy(d['logits'])
    iters = int(max_radius(target))
    if cfg == 'dice': fn = lambda x: dice_loss(x, target)
    elif cfg == 'cldice_auto': m = SoftClDiceLoss(iters=None); fn = lambda x: m(x, target)
    elif cfg == 'cldice_fixed': m = SoftClDiceLoss(iters=iters); fn = lambda x: m(x, target)
    elif cfg == 'cldice_ckpt': m = SoftClDiceLoss(iters=iters, checkpoint=True); fn = lambda x: m(x, target)
    elif cfg == 'monai_cldice':
        from monai.losses import SoftclDiceLoss as MonaiClDice
        m = MonaiClDice(iter_=iters, smooth=1.0)
        fn = lambda x: m(target, torch.sigmoid(x))   # MONAI's argument order is (y_true, y_pred), probabilities
    elif cfg.startswith('skelrec'):
        srl = SkeletonRecallLoss()
        if cfg == 'skelrec_first':
            def fn(x):
                srl._cache.clear(); return srl(x, target, keys=[0])
        else:
            srl(logits, target, keys=[0])      # fill the cache
            fn = lambda x: srl(x, target, keys=[0])
    else: raise ValueError(cfg)
    x = logits.clone().requires_grad_()
    import ctypes, gc
    gc.collect(); ctypes.CDLL('libc.so.6').malloc_trim(0)      # hand freed heap back, so reuse of it is not free
    with open('/proc/self/clear_refs', 'w') as f: f.write('5')   # reset the high-water mark to the current RSS
    base = _status()['VmRSS']
    ts, val = [], None
    for k in range(repeats + 1):               # the first run sets the peak; it is timed too but not in the median
        x.grad = None
        t0 = time.perf_counter()
        loss = fn(x); loss.backward()
        ts.append(time.perf_counter() - t0); val = float(loss)
        if k == 0: peak = _status()['VmHWM']
    print(json.dumps({'cfg': cfg, 'median_s': statistics.median(ts[1:]), 'first_s': ts[0], 'runs': ts[1:],
                      'peak_rise_mib': (peak - base) / 1024, 'loss': val, 'iters': iters,
                      'fg_voxels': int(target.sum())}))


def check_equal():
    "medlab's soft_skeleton equals MONAI's soft_skel on this volume."
    import torch
    from monai.losses.cldice import soft_skel
    from medlab.losses import max_radius, soft_skeleton
    target, logits = make_inputs()
    p = torch.sigmoid(logits); it = int(max_radius(target))
    return float((soft_skeleton(p, it) - soft_skel(p, it)).abs().max()), it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--child', default=None)
    ap.add_argument('--inputs', default=None)
    a = ap.parse_args()
    if a.child: return child(a.child, a.repeats, a.threads, a.inputs)
    import tempfile, os
    import numpy as np
    tmp = tempfile.mkdtemp(prefix='medlab-bench-cldice-')
    inputs = os.path.join(tmp, 'inputs.npz')
    target, logits = make_inputs()
    np.savez(inputs, target=target.numpy(), logits=logits.numpy())
    diff, it = check_equal()
    print(f"volume {SHAPE}, float32, CPU, {a.threads} torch thread(s), forward+backward, median of {a.repeats} "
          f"(after one run that sets the peak); max radius -> iters={it}")
    print(f"medlab soft_skeleton vs MONAI soft_skel, max |difference|: {diff:.1e}")
    res = {}
    for cfg in CONFIGS:
        out = subprocess.run([sys.executable, __file__, '--child', cfg, '--repeats', str(a.repeats),
                              '--threads', str(a.threads), '--inputs', inputs], capture_output=True, text=True)
        if out.returncode:
            print(f"  {cfg}: FAILED\n{out.stderr[-2000:]}"); continue
        r = json.loads(out.stdout.strip().splitlines()[-1]); res[cfg] = r
    os.remove(inputs); os.rmdir(tmp)
    print(f"foreground voxels: {int(target.sum())} of {target.numel()}")
    print(f"{'config':16s} {'median s':>9s} {'first s':>8s} {'peak rise MiB':>14s} {'loss':>8s}")
    for cfg, r in res.items():
        print(f"{cfg:16s} {r['median_s']:9.3f} {r['first_s']:8.3f} {r['peak_rise_mib']:14.1f} {r['loss']:8.4f}")
    if 'cldice_fixed' in res and 'skelrec_cached' in res:
        c, s = res['cldice_fixed'], res['skelrec_cached']
        print(f"soft-clDice (fixed iters) / skeleton recall (cached): time {c['median_s'] / s['median_s']:.1f}x, "
              f"peak memory rise {c['peak_rise_mib'] / max(s['peak_rise_mib'], 1e-9):.1f}x")
    if 'cldice_ckpt' in res and 'skelrec_cached' in res:
        c, s = res['cldice_ckpt'], res['skelrec_cached']
        print(f"soft-clDice (checkpoint=True) / skeleton recall (cached): time {c['median_s'] / s['median_s']:.1f}x, "
              f"peak memory rise {c['peak_rise_mib'] / max(s['peak_rise_mib'], 1e-9):.1f}x")
    if 'cldice_auto' in res and 'cldice_fixed' in res:
        print(f"iters=None costs {res['cldice_auto']['median_s'] - res['cldice_fixed']['median_s']:+.3f} s per call "
              f"over the fixed count (the distance transform; timing noise of the same order)")
    if 'skelrec_first' in res and 'skelrec_cached' in res:
        print(f"skeleton recall first call (skeletonize) {res['skelrec_first']['median_s']:.3f} s, later calls "
              f"{res['skelrec_cached']['median_s']:.3f} s")


if __name__ == '__main__':
    main()
