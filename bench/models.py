"""Benchmark medlab.models: ResidualUNet3D vs MONAI's DynUNet, and the EPID forward net's step time.

1. `ResidualUNet3D(1, 1, base_channels=40, depth=5, deep_supervision=True)` against MONAI `DynUNet` built with the
   same depth, filters [40, 80, 160, 320, 320], strides, instance norm, leaky ReLU (0.01), residual blocks and
   deep supervision (deep_supr_num=3), at batch 2 × 1 × 64³, one thread, forward + backward of the mean square of
   every head (a stand-in loss of negligible cost). Also `checkpointing=True`.
   Each configuration runs in a fresh interpreter, interleaved, `--repeats` times; the figures are medians.
   Time: median CPU time (time.process_time: with one torch thread the machine's other users do not inflate it) of
   the timed steps after one warm-up step; the wall time is printed beside it.
   Peak memory: the kernel's resident-set high-water mark (VmHWM) is reset through /proc/self/clear_refs after the
   model and input are built and one warm-up step has run; the figure is VmHWM - VmRSS at that moment after one
   more forward+backward, i.e. the peak extra memory of one training step (activations, gradients, workspace).
2. `EPIDForwardNet()` (256 × 256) at batch 32: the CPU time of one training step (forward, MSE, backward, Adam) and the
   time of the aperture rasterisation (`net.aperture`, forward only: the control-point inputs need no gradient) in
   the same process, interleaved; their ratio is the rasterisation's share of the step.

Run from the repository root:
    PYTHONPATH=. .venv-bench/bin/python bench/models.py
Options: --repeats N (default 3), --steps S (timed U-Net steps per process, default 2), --threads T (default 1),
--only unet|epid.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

UNET_CONFIGS = ('medlab', 'monai', 'medlab_ckpt')
SHAPE = (2, 1, 64, 64, 64)


def _status():
    "VmRSS and VmHWM of this process in KiB."
    with open('/proc/self/status') as f:
        return {l.split(':')[0]: int(l.split()[1]) for l in f if l.startswith(('VmRSS', 'VmHWM'))}


def build_unet(cfg):
    if cfg == 'monai':
        from monai.networks.nets import DynUNet
        return DynUNet(spatial_dims=3, in_channels=1, out_channels=1, kernel_size=[3] * 5, strides=[1, 2, 2, 2, 2],
                       upsample_kernel_size=[2] * 4, filters=[40, 80, 160, 320, 320], norm_name='instance',
                       act_name=('leakyrelu', {'inplace': True, 'negative_slope': 0.01}), deep_supervision=True,
                       deep_supr_num=3, res_block=True)
    from medlab.models import ResidualUNet3D
    return ResidualUNet3D(1, 1, base_channels=40, depth=5, deep_supervision=True, checkpointing=cfg == 'medlab_ckpt')


def unet_child(cfg, steps, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_unet(cfg).train()
    x = torch.randn(SHAPE)
    n_params = sum(p.numel() for p in model.parameters())

    def step():
        out = model(x)
        heads = out if isinstance(out, list) else out.unbind(1)  # DynUNet stacks its heads: (B, 1 + deep_supr_num, C, ...)
        loss = sum(h.square().mean() for h in heads)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return len(heads)

    n_heads = step()                              # warm-up: allocator pools, gradient buffers
    st = _status()
    with open('/proc/self/clear_refs', 'w') as f: f.write('5')   # reset VmHWM to VmRSS
    rss0 = _status()['VmRSS']
    times, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time(); step()
        times.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    peak = _status()['VmHWM']
    print(json.dumps({'cfg': cfg, 'time_s': statistics.median(times), 'cpu_s': statistics.median(cpu), 'peak_extra_mib': (peak - rss0) / 1024,
                      'rss_before_mib': st['VmRSS'] / 1024, 'params': n_params, 'heads': n_heads}))


def epid_child(repeats, threads):
    import torch
    import torch.nn.functional as F
    from medlab.data import FramePairs
    from medlab.epid import synthetic_epid_sequence
    from medlab.models import EPIDForwardNet
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    seq = synthetic_epid_sequence(n_frames=34, n=256)
    ds = FramePairs.from_sequence(seq)
    batch = torch.utils.data.default_collate([ds[k] for k in range(32)])
    keys = ('prev_leaves', 'curr_leaves', 'prev_jaws', 'curr_jaws', 'prev_mu', 'curr_mu')
    inputs = [batch[k] for k in keys]
    net = EPIDForwardNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step():
        loss = F.mse_loss(net(*inputs), batch['curr'])
        opt.zero_grad(); loss.backward(); opt.step()

    def raster():
        with torch.no_grad(): net.aperture(*inputs)

    step(); raster()
    t_step, t_raster = [], []
    for _ in range(repeats):
        t0 = time.process_time(); step(); t_step.append(time.process_time() - t0)
        t0 = time.process_time(); raster(); t_raster.append(time.process_time() - t0)
    print(json.dumps({'step_s': statistics.median(t_step), 'raster_s': statistics.median(t_raster),
                      'params': sum(p.numel() for p in net.parameters())}))


def run_child(args):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if out.returncode: raise RuntimeError(f"child {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--steps', type=int, default=2)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--only', choices=('unet', 'epid'), default=None)
    ap.add_argument('--child', default=None)
    a = ap.parse_args()
    if a.child == 'epid': return epid_child(a.repeats, a.threads)
    if a.child: return unet_child(a.child, a.steps, a.threads)

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (shared machine); torch threads {a.threads}")
    if a.only in (None, 'unet'):
        res = {c: [] for c in UNET_CONFIGS}
        for r in range(a.repeats):
            for c in UNET_CONFIGS:
                res[c].append(run_child(['--child', c, '--steps', str(a.steps), '--threads', str(a.threads)]))
        med = {c: {k: statistics.median(x[k] for x in v) for k in ('time_s', 'cpu_s', 'peak_extra_mib', 'rss_before_mib')} | {'params': v[0]['params'], 'heads': v[0]['heads']}
               for c, v in res.items()}
        print(f"\nResidual 3-D U-Net, batch {SHAPE[0]} x 1 x 64^3, forward+backward, {a.repeats} processes x {a.steps} steps (medians)")
        print(f"{'config':<14}{'params':>12}{'heads':>7}{'CPU s':>9}{'wall s':>9}{'peak extra MiB':>16}{'RSS before MiB':>16}")
        for c, m in med.items():
            print(f"{c:<14}{m['params']:>12,}{m['heads']:>7}{m['cpu_s']:>9.2f}{m['time_s']:>9.2f}{m['peak_extra_mib']:>16.0f}{m['rss_before_mib']:>16.0f}")
        mm, mo, mc = med['medlab'], med['monai'], med['medlab_ckpt']
        print(f"medlab / MONAI DynUNet: CPU time {mm['cpu_s'] / mo['cpu_s']:.2f}x (wall {mm['time_s'] / mo['time_s']:.2f}x), "
              f"peak extra memory {mm['peak_extra_mib'] / mo['peak_extra_mib']:.2f}x")
        print(f"checkpointing / plain:  CPU time {mc['cpu_s'] / mm['cpu_s']:.2f}x, peak extra memory {mc['peak_extra_mib'] / mm['peak_extra_mib']:.2f}x")
    if a.only in (None, 'epid'):
        e = run_child(['--child', 'epid', '--repeats', str(max(a.repeats, 3)), '--threads', str(a.threads)])
        print(f"\nEPIDForwardNet() 256 x 256, batch 32 ({e['params']:,} parameters), {a.threads} thread(s), medians")
        print(f"training step {e['step_s'] * 1e3:.0f} ms; aperture rasterisation {e['raster_s'] * 1e3:.0f} ms "
              f"= {100 * e['raster_s'] / e['step_s']:.1f} % of the step")


if __name__ == '__main__':
    main()
