"""Benchmark medlab.metrics against scikit-image and MONAI: agreement and time, in one run.

Cases (CPU, torch threads = 1, float64 for SSIM everywhere):
- SSIM, 3-D volume 64x128x128 (a smoothed random volume and a noisy copy, data_range 1): medlab `ssim` vs
  `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` vs
  MONAI `SSIMMetric(spatial_dims=3, kernel_type='gaussian', win_size=11, kernel_sigma=1.5)`;
- SSIM with scikit-image's default uniform 7-voxel window and sample covariance: `structural_similarity(a, b,
  data_range=1)` vs medlab `ssim(..., gaussian_weights=False)`;
- surface distances, 96x128x128 volume at spacing (2, 0.8, 0.8) mm with an ellipsoid against an off-centre
  sphere: medlab `hd95`, `assd`, `surface_dice(tol 1.5 mm)` vs MONAI `compute_hausdorff_distance(percentile=95)`,
  `compute_average_surface_distance(symmetric=True)`, `compute_surface_dice` (which weights nothing and counts
  edge voxels, like medlab; MONAI uses scipy's EDT on the CPU).

Prints each value, |difference| to the reference, median time over repeats (implementations interleaved
within each repeat) and the ratio to the reference's time.

Run from the repository root:
    .venv-bench/bin/python bench/metrics.py [--repeats 5]
"""
import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from medlab.metrics import assd, hd95, ssim, surface_dice

torch.set_num_threads(1)
warnings.filterwarnings('ignore')


def timed(fn, reps):
    "Interleaving is done by the caller; this returns (value, seconds) for one call."
    t0 = time.perf_counter(); v = fn(); return v, time.perf_counter() - t0


def run_cases(cases, repeats):
    "cases: {name: zero-arg fn}. Implementations interleaved within each repeat; returns {name: (value, median s)}."
    times = {k: [] for k in cases}; vals = {}
    for _ in range(repeats):
        for k, f in cases.items():
            v, s = timed(f, 1); times[k].append(s); vals[k] = v
    return {k: (vals[k], statistics.median(times[k])) for k in cases}


def report(title, res, ref):
    print(f"\n{title}")
    r_val, r_t = res[ref]
    for k, (v, t) in res.items():
        print(f"  {k:28s} value {v:.6f}  |diff to {ref}| {abs(v - r_val):.2e}  time {t * 1e3:8.1f} ms  ratio {t / r_t:5.2f}x")


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=5); args = ap.parse_args()
    from skimage.metrics import structural_similarity
    import monai.metrics as mm

    rng = np.random.default_rng(0)
    vol = gaussian_filter(rng.random((64, 128, 128)), 2.0)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    noisy = np.clip(vol + rng.normal(0, 0.05, vol.shape), 0, 1)
    tv, tn = torch.from_numpy(vol)[None, None], torch.from_numpy(noisy)[None, None]
    monai_ssim = mm.SSIMMetric(spatial_dims=3, data_range=1.0, kernel_type='gaussian', win_size=11, kernel_sigma=1.5)
    res = run_cases({
        'skimage structural_similarity': lambda: float(structural_similarity(vol, noisy, data_range=1.0, gaussian_weights=True,
                                                                             sigma=1.5, use_sample_covariance=False)),
        'medlab ssim (numpy in)': lambda: ssim(noisy, vol, data_range=1.0),
        'medlab ssim (torch in)': lambda: ssim(tn, tv, data_range=1.0, spatial_dims=3),
        'monai SSIMMetric': lambda: float(monai_ssim(tn, tv).mean()),
    }, args.repeats)
    report("SSIM 3-D, 64x128x128 float64", res, 'skimage structural_similarity')
    res = run_cases({
        'skimage default (uniform 7)': lambda: float(structural_similarity(vol, noisy, data_range=1.0)),
        'medlab gaussian_weights=False': lambda: ssim(noisy, vol, data_range=1.0, gaussian_weights=False),
    }, args.repeats)
    report("SSIM 3-D, 64x128x128 float64, scikit-image's default uniform window", res, 'skimage default (uniform 7)')

    shape, sp = (96, 128, 128), (2.0, 0.8, 0.8)
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, sp)]
    z, y, x = np.meshgrid(*axes, indexing='ij')
    target = (z ** 2 + y ** 2 + x ** 2) <= 30 ** 2
    pred = ((z - 3) / 32) ** 2 + ((y + 2) / 28) ** 2 + (x / 31) ** 2 <= 1
    tp, tt = torch.from_numpy(pred)[None, None].float(), torch.from_numpy(target)[None, None].float()
    res = run_cases({
        'monai hausdorff p95': lambda: float(mm.compute_hausdorff_distance(tp, tt, include_background=True, percentile=95, spacing=sp)),
        'medlab hd95': lambda: hd95(pred, target, sp),
    }, args.repeats)
    report(f"HD95, {shape} at {sp} mm", res, 'monai hausdorff p95')
    res = run_cases({
        'monai avg surface dist sym': lambda: float(mm.compute_average_surface_distance(tp, tt, include_background=True, symmetric=True, spacing=sp)),
        'medlab assd': lambda: assd(pred, target, sp),
    }, args.repeats)
    report(f"ASSD, {shape} at {sp} mm", res, 'monai avg surface dist sym')
    res = run_cases({
        'monai surface dice 1.5 mm': lambda: float(mm.compute_surface_dice(tp, tt, class_thresholds=[1.5], include_background=True, spacing=sp)),
        'medlab surface_dice 1.5 mm': lambda: surface_dice(pred, target, 1.5, sp),
    }, args.repeats)
    report(f"surface Dice at 1.5 mm, {shape} at {sp} mm", res, 'monai surface dice 1.5 mm')


if __name__ == '__main__':
    main()
