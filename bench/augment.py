"""medlab.augment vs MONAI vs TorchIO: affine + elastic + gamma + noise on a 1x96x96x96 image + label, one CPU thread.

Run (from the repository root):
    .venv-bench/bin/python bench/augment.py [--reps-medlab 30] [--reps-peer 5]

Every implementation runs in its own fresh subprocess with torch.set_num_threads(1):
  * samples/s: median over repeated single-sample calls (after one warm-up call);
  * peak extra memory: VmHWM after all calls minus VmHWM after setup (imports, data, pipeline built), in MiB
    (it includes first-call costs such as code pages and allocator pools);
  * elastic field size: the elastic transform alone applied (bilinear) to a 3-channel image holding each voxel's
    own (d, h, w) coordinate; output minus identity is the displacement each library produces. Reported: max and RMS
    of its length over the interior (12 voxels from the border), median over 3 draws.
Elastic settings are tuned so the three fields have about the same RMS (about 1 voxel):
  medlab RandElastic(control_points=7, magnitude_vox=3); MONAI Rand3DElasticd(sigma=6, magnitude=90);
  TorchIO RandomElasticDeformation(num_control_points=7, max_displacement=3.3).
"""
import argparse, json, os, subprocess, sys, time

N = 96
KEYS = ('image', 'label')


def vmhwm_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    return float('nan')


def make_data(torch):
    g = torch.Generator().manual_seed(0)
    z, y, x = torch.meshgrid(*[torch.linspace(-1, 1, N)] * 3, indexing='ij')
    r2 = z ** 2 + y ** 2 + x ** 2
    lab = (r2 < 0.6 ** 2).to(torch.uint8) + (((z - 0.2) / 0.3) ** 2 + (y / 0.2) ** 2 + (x / 0.3) ** 2 < 1).to(torch.uint8)
    img = 0.2 + 0.3 * (lab >= 1) + 0.4 * (lab == 2) + 0.1 * x + 0.02 * torch.rand(N, N, N, generator=g)
    return img[None].float().contiguous(), lab[None].contiguous()


def build(name, elastic_only=False):
    import numpy as np
    if name == 'medlab':
        from medlab.augment import Compose, RandAffine, RandElastic, RandGamma, RandNoise
        el = RandElastic(KEYS, control_points=7, magnitude_vox=3)
        if elastic_only: return lambda d, s: RandElastic('image', 7, 3, seed=s)(d)
        t = Compose([RandAffine(KEYS, rotate_deg=15, scale=(0.85, 1.15), translate_vox=5), el,
                     RandGamma('image', gamma=(0.7, 1.5)), RandNoise('image', std=0.05)], seed=0)
        return lambda d: t(d)
    if name == 'monai':
        from monai.data import set_track_meta
        from monai.transforms import Compose, RandAffined, Rand3DElasticd, RandAdjustContrastd, RandGaussianNoised
        set_track_meta(False)   # plain tensors: MONAI's fastest mode
        def el(keys, modes):
            return Rand3DElasticd(keys=keys, sigma_range=(6, 6), magnitude_range=(90, 90), prob=1.0, mode=modes, padding_mode='zeros')
        if elastic_only:
            def f(d, s):
                t = el('image', 'bilinear'); t.set_random_state(s); return t(d)
            return f
        t = Compose([RandAffined(keys=KEYS, prob=1.0, rotate_range=[np.deg2rad(15)] * 3, scale_range=[0.15] * 3,
                                 translate_range=[5] * 3, mode=('bilinear', 'nearest'), padding_mode='zeros'),
                     el(KEYS, ('bilinear', 'nearest')),
                     RandAdjustContrastd(keys='image', prob=1.0, gamma=(0.7, 1.5)),
                     RandGaussianNoised(keys='image', prob=1.0, std=0.05)])
        t.set_random_state(0)
        return lambda d: t(d)
    if name == 'torchio':
        import torch, torchio as tio
        el = lambda: tio.RandomElasticDeformation(num_control_points=7, max_displacement=3.3, locked_borders=2)
        if elastic_only:
            def f(d, s):
                torch.manual_seed(s)
                return {'image': el()(tio.ScalarImage(tensor=d['image'])).data}
            return f
        t = tio.Compose([tio.RandomAffine(scales=(0.85, 1.15), degrees=15, translation=5, isotropic=False,
                                          image_interpolation='linear', default_pad_value=0),
                         el(), tio.RandomGamma(log_gamma=(np.log(0.7), np.log(1.5))), tio.RandomNoise(std=(0, 0.05))])
        torch.manual_seed(0)
        def f(d):
            s = t(tio.Subject(image=tio.ScalarImage(tensor=d['image']), label=tio.LabelMap(tensor=d['label'])))
            return {'image': s['image'].data, 'label': s['label'].data}
        return f
    raise ValueError(name)


def worker(name, reps):
    import torch
    torch.set_num_threads(1)
    img, lab = make_data(torch)
    f = build(name)
    data = {'image': img, 'label': lab}
    base = vmhwm_mib()
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        out = f(data)
        dt = time.perf_counter() - t0
        if i: times.append(dt)      # call 0 is the warm-up
        del out
    extra = vmhwm_mib() - base
    o = f(data)
    label_dtype = str(torch.as_tensor(o['label']).dtype)
    # elastic displacement field, measured on a coordinate image
    coords = torch.stack(torch.meshgrid(*[torch.arange(N, dtype=torch.float32)] * 3, indexing='ij'))
    el = build(name, elastic_only=True)
    m = 12
    mx, rms = [], []
    for s in range(3):
        u = (torch.as_tensor(el({'image': coords}, s)['image']).float() - coords)[:, m:-m, m:-m, m:-m].norm(dim=0)
        mx.append(float(u.max())); rms.append(float(u.pow(2).mean().sqrt()))
    times.sort()
    print(json.dumps({'name': name, 'median_s': times[len(times) // 2], 'min_s': times[0], 'reps': reps,
                      'extra_mib': extra, 'label_dtype': label_dtype,
                      'disp_max_vox': sorted(mx)[1], 'disp_rms_vox': sorted(rms)[1]}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps-medlab', type=int, default=30)
    ap.add_argument('--reps-peer', type=int, default=5)
    ap.add_argument('--worker', default=None)
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    if a.worker: return worker(a.worker, a.reps)
    res = {}
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    for name, reps in [('medlab', a.reps_medlab), ('monai', a.reps_peer), ('torchio', a.reps_peer)]:
        p = subprocess.run([sys.executable, __file__, '--worker', name, '--reps', str(reps)], capture_output=True, text=True, env=env)
        line = [l for l in p.stdout.splitlines() if l.startswith('{')]
        if p.returncode or not line:
            print(f"{name}: failed\n{p.stderr[-2000:]}"); continue
        res[name] = json.loads(line[-1])
    print(f"\naffine + elastic + gamma + noise, 1x96x96x96 float32 image + uint8 label, 1 thread (torch {__import__('torch').__version__})")
    print(f"{'impl':8s} {'median ms':>10s} {'samples/s':>10s} {'reps':>5s} {'extra MiB':>10s} {'label dtype':>12s} {'disp max':>9s} {'disp RMS':>9s}")
    for r in res.values():
        print(f"{r['name']:8s} {1e3 * r['median_s']:10.1f} {1 / r['median_s']:10.2f} {r['reps']:5d} {r['extra_mib']:10.1f} "
              f"{r['label_dtype'].replace('torch.', ''):>12s} {r['disp_max_vox']:9.2f} {r['disp_rms_vox']:9.2f}")
    if 'medlab' in res:
        peers = [r for n, r in res.items() if n != 'medlab']
        if peers:
            best = min(peers, key=lambda r: r['median_s'])
            ratio = best['median_s'] / res['medlab']['median_s']
            print(f"\nmedlab vs the faster peer ({best['name']}): {ratio:.1f}x samples/s (target >= 10x); "
                  f"medlab extra memory {res['medlab']['extra_mib']:.1f} MiB (target <= 50 MiB)")


if __name__ == '__main__':
    main()
