"""Time per call of the topology loss (`medlab.losses.topo_loss`) on a 64³ patch, in 3-D and in the 2-D slice mode,
and the persistence diagram itself with the two libraries it could use (cripser, gudhi).

The prediction is a smoothed random field (logits with many components, holes and cavities at every level), the
target a thresholded smoothing of another field. One thread (`torch.set_num_threads(1)`, `OMP_NUM_THREADS=1`),
the median of `--repeats` calls, forward + backward for the loss. The configurations are interleaved, so a busy
shared machine slows all of them alike; the ratios within one run are the figures to quote.

Configurations:
- `cripser_T`: `cripser.computePH_T(1 - p, maxdim=2)`: the diagram with birth / death coordinates (what medlab uses)
- `gudhi`: `gudhi.CubicalComplex(top_dimensional_cells=1 - p)`, `compute_persistence()`, `cofaces_of_persistence_pairs()`
- `topo_3d`: `topo_loss(pred, target)`, dims 0, 1, 2, one 64³ patch, forward + backward
- `topo_slices`: `topo_loss(pred, target, slice_axis=0)`, 64 slices of 64², dims 0, 1, forward + backward

Run from the repository root:
    .venv/bin/python bench/topology.py [--repeats 5]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')


def make_inputs(n=64):
    import numpy as np
    import torch
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(0)
    x = gaussian_filter(rng.standard_normal((n, n, n)), 2)
    t = gaussian_filter(rng.standard_normal((n, n, n)), 3) > 0
    x = torch.from_numpy(3 * x / x.std()).float()[None, None]
    return x, torch.from_numpy(t).float()[None, None]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeats', type=int, default=5)
    args = ap.parse_args()
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from medlab.losses import topo_loss
    x, t = make_inputs()
    f = np.ascontiguousarray(1 - torch.sigmoid(x)[0, 0].double().numpy())

    def cripser_T():
        import cripser
        return cripser.computePH_T(f, maxdim=2)

    def gudhi_():
        import gudhi
        cc = gudhi.CubicalComplex(top_dimensional_cells=f)
        cc.compute_persistence(homology_coeff_field=2, min_persistence=0)
        return cc.cofaces_of_persistence_pairs()

    def loss(**kw):
        xg = x.clone().requires_grad_()
        topo_loss(xg, t, **kw).backward()
        return xg.grad

    configs = {'cripser_T': cripser_T, 'gudhi': gudhi_, 'topo_3d': loss, 'topo_slices': lambda: loss(slice_axis=0)}
    times = {k: [] for k in configs}
    for _ in range(args.repeats):
        for k, fn in configs.items():
            t0 = time.perf_counter(); fn(); times[k].append(time.perf_counter() - t0)
    rows = cripser_T()
    reg, ess = gudhi_()
    print(f"diagram pairs per dimension: cripser {np.bincount(rows[:, 0].astype(int)).tolist()}, "
          f"gudhi {[len(r) for r in reg]} finite + {[len(e) for e in ess]} essential")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items(): print(f"{k:12s} median {v * 1000:8.1f} ms over {args.repeats} (min {min(times[k]) * 1000:.1f} ms)")
    print(f"gudhi / cripser (diagram only): {med['gudhi'] / med['cripser_T']:.1f}x; "
          f"3-D loss / slice-mode loss: {med['topo_3d'] / med['topo_slices']:.1f}x")


if __name__ == '__main__':
    main()
