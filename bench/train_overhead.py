"""Per-step overhead of medlab's Learner vs a hand-written training loop, and the Timing callback's own cost.

Run (timings of different helpers must not overlap):
    .venv/bin/python bench/train_overhead.py [--epochs 4] [--repeats 8] [--n 8192]

Same tiny MLP, same data (DataLoader, batch 64, shuffled), same AdamW, CPU, 1 thread. Variants:
  hand      a hand-written loop: to(device), forward, loss, backward, step, zero_grad, epoch loss sum; validation
  learner   Learner with its default callbacks (ProgressBar, CSVLogger, Checkpoint, SummaryPlot, TensorBoardLogger, run dir)
  +timing   the same plus Timing(print_fn=discard) (lines rate-limited as by default)
  -plot     the default callbacks without SummaryPlot (shows what the summary plot costs a short fit)
The per-step time is the training part of each epoch divided by its steps (validation and the epoch-end
work of the callbacks excluded: they are reported separately as whole-fit time per step). Variants are
interleaved and repeated; medians are reported, with ratios to the hand loop measured in the same run.
"""
import argparse, statistics, sys, tempfile, time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from medlab.train import Checkpoint, CSVLogger, Learner, ProgressBar, Timing


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 32, generator=g)
    y = (x[:, :4].sum(1, keepdim=True)).tanh() + 0.1 * torch.randn(n, 1, generator=g)
    return TensorDataset(x, y)


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def hand(train, val, epochs):
    net = model(); opt = torch.optim.AdamW(net.parameters(), lr=1e-3); dev = torch.device('cpu')
    dl, vdl = DataLoader(train, batch_size=64, shuffle=True), DataLoader(val, batch_size=256)
    per_step, t_fit = [], time.perf_counter()
    for _ in range(epochs):
        net.train(); tot = torch.zeros(()); n = 0; t0 = time.perf_counter(); steps = 0
        for xb, yb in dl:
            xb, yb = xb.to(dev), yb.to(dev)
            loss = nn.functional.mse_loss(net(xb), yb)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
            tot += loss.detach() * len(xb); n += len(xb); steps += 1
        float(tot / n)
        per_step.append((time.perf_counter() - t0) / steps)
        net.eval()
        with torch.no_grad(): float(sum(nn.functional.mse_loss(net(x), y) * len(x) for x, y in vdl) / len(val))
    return per_step, (time.perf_counter() - t_fit) / (steps * epochs)


def learner(train, val, epochs, root, timing=False, plot=True):
    cbs = [Timing(print_fn=lambda s: None)] if timing else []
    if not plot: cbs += [CSVLogger(), Checkpoint(), ProgressBar()]   # the defaults without SummaryPlot
    dl = DataLoader(train, batch_size=64, shuffle=True)
    learn = Learner(model(), dl, DataLoader(val, batch_size=256), nn.functional.mse_loss, lr=1e-3, callbacks=cbs,
                    runs_root=root, device='cpu', default_callbacks=plot)
    t_fit = time.perf_counter()
    learn.fit(epochs)
    t_fit = time.perf_counter() - t_fit
    steps = len(dl)
    return [r['time_train_s'] / steps for r in learn.history], t_fit / (steps * epochs), [c.name for c in learn.callbacks]


def timing_micro(n=100_000):
    "Cost of the Timing callback's three per-batch handlers in isolation (deterministic, unlike the noisy end-to-end delta)."
    learn = Learner(nn.Linear(2, 1), DataLoader(data(8, 0), batch_size=4), None, nn.functional.mse_loss, run_dir=False, device='cpu')
    t = Timing(print_fn=lambda s: None); t.before_fit(learn); t.before_epoch(learn)
    learn.training, learn.epoch, learn.iter = True, 0, 1
    t0 = time.perf_counter()
    for _ in range(n): t.before_batch(learn); t.before_forward(learn); t.after_batch(learn)
    return (time.perf_counter() - t0) / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--repeats', type=int, default=8)
    ap.add_argument('--n', type=int, default=8192, help='training samples (batch 64)')
    a = ap.parse_args()
    torch.set_num_threads(1)
    train, val = data(a.n, 0), data(1024, 1)
    res = {k: ([], []) for k in ('hand', 'learner', '+timing', '-plot')}
    names = None
    with tempfile.TemporaryDirectory() as root:
        learner(train, val, 1, root)  # warm-up (imports, first plot)
        hand(train, val, 1)
        for r in range(a.repeats):    # variants interleaved, so load from other processes hits all of them alike
            for k in res:
                if k == 'hand': ps, fit = hand(train, val, a.epochs)
                else:
                    ps, fit, nm = learner(train, val, a.epochs, Path(root) / f'{k}{r}', timing=(k == '+timing'), plot=(k != '-plot'))
                    if k == 'learner': names = nm
                res[k][0].extend(ps[1:]); res[k][1].append(fit)   # drop each run's first epoch (warm-up)
    med = {k: statistics.median(v[0]) for k, v in res.items()}
    best = {k: min(v[0]) for k, v in res.items()}
    fit = {k: statistics.median(v[1]) for k, v in res.items()}
    steps = a.n // 64
    print(f"torch {torch.__version__}, CPU, 1 thread; MLP 32-64-64-1, {a.n} samples, batch 64 ({steps} steps/epoch), "
          f"{a.epochs} epochs x {a.repeats} interleaved repeats; default callbacks: {names}")
    print(f"{'variant':10s} {'median us/step':>15s} {'ratio':>7s} {'min us/step':>12s} {'ratio':>7s} {'whole fit us/step':>18s} {'ratio':>7s}")
    for k in res:
        print(f"{k:10s} {med[k] * 1e6:15.1f} {med[k] / med['hand']:7.3f} {best[k] * 1e6:12.1f} {best[k] / best['hand']:7.3f} "
              f"{fit[k] * 1e6:18.1f} {fit[k] / fit['hand']:7.3f}")
    print(f"Learner (default callbacks) vs hand loop, train step: median {med['learner'] / med['hand']:.3f}x, "
          f"min {best['learner'] / best['hand']:.3f}x ({(best['learner'] - best['hand']) * 1e6:.1f} us/step); target <= 1.10x")
    print(f"Timing callback's own cost: median {med['+timing'] / med['learner']:.3f}x, min {best['+timing'] / best['learner']:.3f}x "
          f"({(best['+timing'] - best['learner']) * 1e6:.1f} us/step) of the default Learner")
    print(f"Timing handlers alone (before_batch + before_forward + after_batch, no model): {timing_micro():.2f} us/batch")
    print("whole fit = fit wall time / steps, including validation (both) and the Learner callbacks' epoch-end work: "
          "atomic last.pt/best checkpoints with fsync, metrics.csv, and the summary plot (first epoch, then at most every 30 s, and at the end)")


if __name__ == '__main__':
    sys.exit(main())
