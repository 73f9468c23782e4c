"""Benchmark medlab.epid: VMAT arc synthesis against a per-frame scipy loop, and gamma against pymedphys.

Setup (issue 8), all in one run, torch on 2 threads:

1. Arc synthesis. A 2050-control-point `random_vmat_plan` (52 x 5 mm MLC, seed 0) on the 256 x 256, 1 mm
   grid with the 261 x 261 analytic kernel, 7 substeps. Timed (median of --repeats):
   - `synthesize_arc(plan, grid, kernel)`: end to end (apertures, integration, convolution, float32 frames);
   - `synthesize_arc(plan, grid, None)`: the unconvolved apertures alone (MU-weighted, integrated per frame);
   - `convolve_detector(apertures, kernel)`: medlab's batched FFT convolution of those same apertures;
   - the baseline: a plain loop of `scipy.signal.fftconvolve(frame, kernel_2d, mode='same')` over the same
     2050 apertures (float32, scipy.fft given 2 workers, i.e. the same 2 cores).
   Ratios: scipy loop / medlab end to end (the baseline does not even make the apertures) and
   scipy loop / convolve_detector; plus the largest difference between medlab's frames and the loop's.
2. Gamma 3 %/3 mm, 10 % cutoff, on pairs of 256 x 256 EPID frames: reference = a frame of the arc,
   evaluated = the same frame from a perturbed plan (bank B +1 mm, bank A -0.5 mm, MU x 1.02, Poisson
   noise). `medlab.epid.gamma_index` vs `pymedphys.gamma` (full search, no max_gamma, both), global and local.
   pymedphys's default interpolation needs numba, which the bench venv lacks, so it runs with
   `interp_algo='scipy'` (its RegularGridInterpolator path; same bilinear values). Reported: pass rates
   and their difference (target <= 0.5 percentage points), max |gamma difference|, time ratio.

Run under the shared lock:
    flock /tmp/medlab-bench.lock /work/main/.venv-bench/bin/python bench/epid.py
Options: --repeats N (default 3).
"""
import argparse
import logging
import statistics
import time
import warnings

import numpy as np
import scipy.fft
import torch
from scipy.signal import fftconvolve

from medlab.epid import (DetectorGrid, VMATPlan, analytic_kernel, convolve_detector, gamma_index, gamma_pass_rate,
                         random_vmat_plan, synthesize_arc)

torch.set_num_threads(2)
warnings.filterwarnings('ignore')
logging.disable(logging.WARNING)


def timed(fn, repeats):
    "Median seconds over `repeats` calls, and the last result."
    ts, out = [], None
    for _ in range(repeats):
        out = None
        t = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def bench_arc(repeats):
    grid, plan = DetectorGrid(256, 1.0), random_vmat_plan(2050, seed=0)
    kernel = analytic_kernel(grid)
    k2d = kernel.weights.float().numpy()
    synthesize_arc(random_vmat_plan(20, seed=1), grid, kernel)            # warm-up (FFT plans, allocator)
    t_synth, frames = timed(lambda: synthesize_arc(plan, grid, kernel)['frames'], repeats)
    t_ap, ap = timed(lambda: synthesize_arc(plan, grid, None)['frames'], repeats)
    t_conv, conv = timed(lambda: convolve_detector(ap, kernel), repeats)
    del conv
    ap_np = ap.numpy()

    def scipy_loop():
        out = np.empty_like(ap_np)
        with scipy.fft.set_workers(2):
            for i, f in enumerate(ap_np): out[i] = fftconvolve(f, k2d, mode='same')
        return out
    t_scipy, ref = timed(scipy_loop, repeats)
    err = float(np.abs(frames.numpy() - ref).max() / np.abs(ref).max())
    print(f"arc: {len(plan)} control points, {grid.n} x {grid.n} px, kernel {kernel.shape}, substeps 7, torch threads {torch.get_num_threads()}")
    print(f"  medlab synthesize_arc end to end     {t_synth:7.2f} s   ({len(plan) / t_synth:6.0f} frames/s)")
    print(f"  medlab apertures only (no kernel)    {t_ap:7.2f} s")
    print(f"  medlab convolve_detector (batched)   {t_conv:7.2f} s")
    print(f"  scipy fftconvolve per-frame loop     {t_scipy:7.2f} s   (same apertures, 2 workers)")
    print(f"  max |medlab - scipy| / max           {err:.1e}")
    return {'synth_s': t_synth, 'apertures_s': t_ap, 'conv_s': t_conv, 'scipy_loop_s': t_scipy, 'rel_err': err}


def perturbed(plan, seed):
    return VMATPlan(plan.angles_deg, plan.leaf_a_mm - 0.5, plan.leaf_b_mm + 1.0, plan.jaws_mm, plan.mu * 1.02, plan.mlc)


def bench_gamma(repeats):
    import pymedphys
    grid = DetectorGrid(256, 1.0)
    kernel = analytic_kernel(grid)
    plan = random_vmat_plan(200, seed=3)
    a = synthesize_arc(plan, grid, kernel)['frames']
    b = synthesize_arc(perturbed(plan, 0), grid, kernel, noise='poisson', noise_level=200, seed=1)['frames']
    axes = (np.arange(grid.n) * grid.pitch_mm, np.arange(grid.n) * grid.pitch_mm)
    rows = []
    for j, glob in ((50, True), (120, True), (120, False)):
        ref, ev = a[j].double().numpy(), b[j].double().numpy()
        t_m, gm = timed(lambda: gamma_index(ref, ev, 1.0, 3, 3, 10, global_norm=glob), repeats)
        t_pr, pr_m = timed(lambda: gamma_pass_rate(ref, ev, 1.0, 3, 3, 10, global_norm=glob), repeats)
        t_p, gp = timed(lambda: pymedphys.gamma(axes, ref, axes, ev, 3, 3, lower_percent_dose_cutoff=10,
                                                local_gamma=not glob, interp_algo='scipy'), repeats)
        ok = ~np.isnan(gp)
        pr_p = 100 * float(np.mean(gp[ok] <= 1))
        same_mask = bool(np.array_equal(np.isnan(gm), np.isnan(gp)))
        dmax = float(np.nanmax(np.abs(gm - gp)))
        rows.append((j, glob, pr_m, pr_p, dmax, same_mask, t_m, t_pr, t_p))
        print(f"gamma frame {j:3d} {'global' if glob else 'local '}: pass medlab {pr_m:6.2f} % vs pymedphys {pr_p:6.2f} % "
              f"(diff {abs(pr_m - pr_p):.3f} pp), max |dgamma| {dmax:.1e}, same evaluated points {same_mask}; "
              f"gamma_index {t_m:.2f} s, gamma_pass_rate {t_pr:.2f} s, pymedphys.gamma {t_p:.2f} s")
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=3)
    args = ap.parse_args()
    arc = bench_arc(args.repeats)
    rows = bench_gamma(args.repeats)
    print('\nRATIOS (one run)')
    print(f"  arc: scipy per-frame loop / medlab synthesize_arc end to end = {arc['scipy_loop_s'] / arc['synth_s']:.1f}x")
    print(f"  arc: scipy per-frame loop / medlab convolve_detector         = {arc['scipy_loop_s'] / arc['conv_s']:.1f}x")
    tr = [r[8] / r[6] for r in rows]
    print(f"  gamma: pymedphys.gamma time / medlab gamma_index time      = {', '.join(f'{x:.1f}x' for x in tr)} (median {statistics.median(tr):.1f}x)")
    print(f"  gamma: pymedphys.gamma time / medlab gamma_pass_rate time  = {', '.join(f'{r[8] / r[7]:.1f}x' for r in rows)}")
    print(f"  gamma: max pass-rate difference = {max(abs(r[2] - r[3]) for r in rows):.3f} percentage points (target <= 0.5)")
