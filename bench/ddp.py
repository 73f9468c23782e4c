"""DDP overhead of medlab's Learner: 2 processes on the CPU (gloo) vs 1 process with half the global batch.

Run:
    .venv/bin/python bench/ddp.py [--repeats 3] [--epochs 4] [--batch 64] [--width 256]

Both sides do the same work per process and per step (the same per-process batch `--batch`, the same MLP,
AdamW, one thread per process): the 2-process run trains on a global batch of 2 x batch and adds DDP's
gradient all-reduce (gloo) and the two processes' synchronisation at every step. So the ratio
time-per-step(2 processes) / time-per-step(1 process) is DDP's overhead (1.0 = none). Each run is a
fresh `python` (plain) or `python -m torch.distributed.run --nproc_per_node 2`; the per-step time is the
median over the epochs after the first (warm-up) of the Learner's `time_train_s` / steps, so process
start-up, imports and the process-group set-up are excluded. Rank 0's CPU time per step is reported too:
on a busy machine the wall time of two processes also counts the time they wait for a core, the CPU
time only the work DDP adds (bucketing, the all-reduce, the copies). The two sides are interleaved and repeated;
medians are reported with their ratio.

Where CUDA is available it also measures a 1-GPU `torchrun --nproc_per_node 1` run against a plain run on
the same GPU (the DDP wrapper and the process group of one); otherwise it says that measure was not possible.
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(a):
    "One training run (plain or under torchrun); rank 0 prints the per-step times as JSON."
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from medlab.distributed import get_rank, get_world_size
    from medlab.train import Callback, Learner
    torch.set_num_threads(1)

    class CPUTime(Callback):   # this process's CPU time per epoch: DDP's own work, without the waiting a busy machine adds
        def __init__(self): self.t = []
        def before_epoch(self, learn): self.t0 = time.process_time()
        def after_epoch(self, learn): self.t.append(time.process_time() - self.t0)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.n, 32, generator=g); y = x[:, :4].sum(1, keepdim=True).tanh()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, a.width), nn.ReLU(), nn.Linear(a.width, a.width), nn.ReLU(), nn.Linear(a.width, 1))
    dl = DataLoader(TensorDataset(x, y), batch_size=a.batch, shuffle=True)
    cpu = CPUTime()
    learn = Learner(model, dl, None, nn.functional.mse_loss, run_dir=False, default_callbacks=False, device=a.device, callbacks=[cpu])
    learn.fit(a.epochs)
    steps = learn.n_batches
    per_step = [r['time_train_s'] / steps for r in learn.history[1:]]
    if get_rank() == 0:
        print('RESULT ' + json.dumps({'world': get_world_size(), 'steps': steps, 'per_step_s': per_step,
                                      'cpu_per_step_s': [t / steps for t in cpu.t[1:]]}), flush=True)


def launch(nproc, a, device):
    # the worker's settings travel in the environment: torchrun's parser would take `--n...` for its own options
    cfg = dict(epochs=a.epochs, batch=a.batch, width=a.width, n=a.n * (nproc or 1), device=device)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])),
           'OMP_NUM_THREADS': '1', 'MEDLAB_BENCH_DDP_WORKER': json.dumps(cfg)}
    script = str(Path(__file__).resolve())
    if nproc is None: cmd = [sys.executable, script]
    else:
        from medlab.distributed import torchrun_cmd
        cmd = torchrun_cmd(script, nproc=nproc)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
    if r.returncode != 0 or not line: sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    res = json.loads(line[0][7:])
    return statistics.median(res['per_step_s']), statistics.median(res['cpu_per_step_s'])


def compare(a, label, device, side_a, side_b):
    ra, rb = [], []
    for _ in range(a.repeats):   # interleaved
        ra.append(launch(side_a[1], a, device)); rb.append(launch(side_b[1], a, device))
    print(label)
    for what, i in (('wall', 0), ('CPU (rank 0)', 1)):
        ta, tb = [r[i] for r in ra], [r[i] for r in rb]
        ma, mb = statistics.median(ta), statistics.median(tb)
        print(f"  {what} time per step")
        print(f"    {side_a[0]:<48} {ma * 1e3:8.3f} ms   (runs: {', '.join(f'{t * 1e3:.3f}' for t in ta)})")
        print(f"    {side_b[0]:<48} {mb * 1e3:8.3f} ms   (runs: {', '.join(f'{t * 1e3:.3f}' for t in tb)})")
        print(f"    ratio (second / first): {mb / ma:.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repeats', type=int, default=3, help='interleaved runs of each side')
    p.add_argument('--epochs', type=int, default=4, help='epochs per run (the first is warm-up)')
    p.add_argument('--batch', type=int, default=64, help='per-process batch')
    p.add_argument('--width', type=int, default=256, help='hidden width of the MLP (gradient size)')
    p.add_argument('--n', type=int, default=4096, help='samples per process')
    if os.environ.get('MEDLAB_BENCH_DDP_WORKER'):
        return worker(argparse.Namespace(**json.loads(os.environ['MEDLAB_BENCH_DDP_WORKER'])))
    a = p.parse_args()
    import torch
    n_params = 32 * a.width + a.width + a.width * a.width + a.width + a.width + 1
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU core(s), load average {os.getloadavg()[0]:.1f} at start "
          f"(a shared machine: figures are noisy); MLP with {n_params} parameters, {a.n} samples and batch {a.batch} per process, "
          f"{a.epochs} epochs, {a.repeats} interleaved runs each")
    compare(a, f"DDP overhead on the CPU (gloo), same work per process (per-process batch {a.batch}):", 'cpu',
            (f"1 process, global batch {a.batch}", None), (f"2 processes (torchrun), global batch {2 * a.batch}", 2))
    if torch.cuda.is_available():
        compare(a, "1 GPU: torchrun --nproc_per_node 1 vs a plain run:", 'cuda',
                ("plain python, 1 GPU", None), ("torchrun, 1 process, 1 GPU (DDP wrapper, NCCL)", 1))
    else:
        print("No GPU here: the 1-GPU torchrun vs plain-run measure was not possible.")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == '__main__':
    main()
