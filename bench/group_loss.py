"""Benchmark medlab.losses.group_mean_loss against the scar seed's per-group Python loop and torch.scatter_reduce.

N = 1.4 M points in G = 10,000 groups (random assignment, ~140 points per group), per-point targets constant
within each group (the seed's npz layout), float32 on the CPU.

1. The seed's loop (`for gid in torch.unique(ids): mask = ids == gid; ...`) is timed on a subset of groups
   (`--loop-groups`, default 200) and extrapolated linearly to all G groups: every iteration scans all N ids,
   so its cost per group does not depend on which groups are chosen. The extrapolation is printed as such.
2. `group_mean_loss` forward: with the per-group target table made once by `group_targets` (the recommended
   training-loop path), validated (`check=True`, the default) or not; with per-point targets (validated on every
   call: one gather over N); and forward+backward.
3. A `scatter_reduce(..., 'mean')` implementation of the same loss (per-group target), forward and forward+backward.
All three give the same loss (checked, and the loop is checked on its subset).

Run from the repository root:
    .venv-bench/bin/python bench/group_loss.py
Options: --repeats N (default 7), --loop-groups K (default 200), --threads T (torch intra-op threads, default 1:
the 2-core machine is shared, and a contended OpenMP team turns a 0.1 ms reduction into 10 ms; run --threads 2 too)
"""
import argparse
import statistics
import time

import torch

from medlab.losses import group_mean_loss, group_targets

N, G = 1_400_000, 10_000


def timeit(fn, repeats):
    fn()                                    # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def seed_loop(pred, target_point, group_ids, groups):
    "The scar seed's compute_group_reconstruction_loss, restricted to `groups` (a subset of torch.unique(ids))."
    losses = []
    for gid in groups:
        mask = (group_ids == gid)
        group_mean = pred[mask].mean()
        group_target = target_point[mask][0]
        losses.append((group_target - group_mean) ** 2)
    return torch.stack(losses).mean()


def scatter_loss(pred, target_group, group_ids):
    means = torch.zeros(G, dtype=pred.dtype).scatter_reduce(0, group_ids, pred, 'mean', include_self=False)
    counts = torch.bincount(group_ids, minlength=G)
    keep = counts > 0
    return ((means - target_group) ** 2)[keep].mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--loop-groups', type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, G, (N,), generator=g)
    target_group = torch.rand(G, generator=g)
    target_point = target_group[ids]
    pred = torch.rand(N, generator=g)
    print(f"N={N:,} points, G={G:,} groups, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {a.repeats} repeats")

    # correctness: the three agree
    l_med = group_mean_loss(pred, target_point, ids, n_groups=G)
    l_sc = scatter_loss(pred, target_group, ids)
    uniq = torch.unique(ids)
    sub = uniq[:a.loop_groups]
    l_loop_sub = seed_loop(pred, target_point, ids, sub)
    in_sub = torch.isin(ids, sub)
    l_med_sub = group_mean_loss(pred[in_sub], target_group, ids[in_sub], n_groups=G, target_layout='group')
    assert torch.allclose(l_med, l_sc, rtol=1e-5), (l_med, l_sc)
    assert torch.allclose(l_med_sub, l_loop_sub, rtol=1e-5), (l_med_sub, l_loop_sub)
    print(f"losses agree: medlab {float(l_med):.6f}, scatter_reduce {float(l_sc):.6f}; "
          f"on the loop's {len(sub)} groups: loop {float(l_loop_sub):.6f}, medlab {float(l_med_sub):.6f}")

    # 1. the seed's loop on a subset, extrapolated
    t_uniq, _ = timeit(lambda: torch.unique(ids), max(1, a.repeats // 2))
    t_sub, ts_sub = timeit(lambda: seed_loop(pred, target_point, ids, sub), max(1, a.repeats // 2))
    per_group = t_sub / len(sub)
    t_loop = t_uniq + per_group * len(uniq)
    print(f"seed loop: {len(sub)} of {len(uniq)} groups timed: {t_sub:.3f} s ({per_group * 1e3:.2f} ms/group, "
          f"runs {', '.join(f'{t:.3f}' for t in ts_sub)}), + torch.unique {t_uniq * 1e3:.1f} ms")
    print(f"  EXTRAPOLATED to all {len(uniq)} groups: {t_loop:.1f} s per loss evaluation (not measured end to end)")

    # 2. medlab
    t_table, _ = timeit(lambda: group_targets(target_point, ids, n_groups=G), max(1, a.repeats // 2))
    table = group_targets(target_point, ids, n_groups=G)
    t_med, _ = timeit(lambda: group_mean_loss(pred, table, ids, n_groups=G, target_layout='group'), a.repeats)
    t_med_nc, _ = timeit(lambda: group_mean_loss(pred, table, ids, n_groups=G, target_layout='group', check=False), a.repeats)
    t_med_p, _ = timeit(lambda: group_mean_loss(pred, target_point, ids, n_groups=G), a.repeats)
    pg = pred.clone().requires_grad_()
    def fb_med():
        pg.grad = None; group_mean_loss(pg, table, ids, n_groups=G, target_layout='group').backward()
    t_med_fb, _ = timeit(fb_med, a.repeats)
    # 3. scatter_reduce
    t_sc, _ = timeit(lambda: scatter_loss(pred, target_group, ids), a.repeats)
    def fb_sc():
        pg.grad = None; scatter_loss(pg, target_group, ids).backward()
    t_sc_fb, _ = timeit(fb_sc, a.repeats)

    rows = [("medlab, per-group table, check=True (default)", t_med),
            ("medlab, per-group table, check=False", t_med_nc),
            ("medlab, per-point target, check=True (validated every call)", t_med_p),
            ("medlab forward+backward, per-group table, check=True", t_med_fb),
            ("scatter_reduce('mean'), per-group target", t_sc),
            ("scatter_reduce forward+backward", t_sc_fb)]
    print(f"group_targets (per-point -> validated (G,) table, once per dataset): {t_table * 1e3:.1f} ms")
    print(f"{'':62s} {'median':>10s} {'vs loop':>10s} {'vs scatter':>11s}")
    print(f"{'seed loop (extrapolated)':62s} {t_loop * 1e3:8.1f}ms {1.0:9.0f}x {t_sc / t_loop:10.5f}x")
    for name, t in rows:
        print(f"{name:62s} {t * 1e3:8.2f}ms {t_loop / t:9.0f}x {t_sc / t:10.2f}x")
    print(f"target: medlab >= 3,000x the loop -> default (validated, per-group table) forward is {t_loop / t_med:,.0f}x, "
          f"{'MET' if t_loop / t_med >= 3000 else 'NOT MET'}")


if __name__ == '__main__':
    main()
