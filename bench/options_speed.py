"""Do the MONAI / scikit-image options slow the existing paths? `ssim`, `hd95` and `dice_loss` with their default
arguments, before (a git revision's `medlab/metrics.py` and `medlab/losses.py`, loaded from `git show`) and after
(this checkout), interleaved in one process, median of repeats, CPU, one torch thread.

    PYTHONPATH=. .venv/bin/python bench/options_speed.py [--before 1bbfa20] [--repeats 15]

Prints each case's median time before and after and their ratio (after / before; 1.00 means unchanged).
"""
import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

torch.set_num_threads(1)
warnings.filterwarnings('ignore')


def load_revision(rev, name):
    "medlab/<name>.py as it was at git revision `rev`, imported as a separate module (it imports today's medlab.core)."
    src = subprocess.run(['git', 'show', f'{rev}:medlab/{name}.py'], capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / f'{name}_{rev}.py'
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f'medlab.{name}_{rev}', path)   # inside the package: its relative imports work
    mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--before', default='1bbfa20'); ap.add_argument('--repeats', type=int, default=15)
    args = ap.parse_args()
    import medlab.losses as L_after, medlab.metrics as M_after
    M_before, L_before = load_revision(args.before, 'metrics'), load_revision(args.before, 'losses')

    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.random((256, 256)), 2); img_n = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    vol = gaussian_filter(rng.random((32, 96, 96)), 2); vol_n = np.clip(vol + rng.normal(0, 0.05, vol.shape), 0, 1)
    shape, sp = (64, 96, 96), (2.0, 0.8, 0.8)
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, sp)]
    z, y, x = np.meshgrid(*axes, indexing='ij')
    target = z ** 2 + y ** 2 + x ** 2 <= 25 ** 2
    pred = ((z - 3) / 27) ** 2 + ((y + 2) / 23) ** 2 + (x / 26) ** 2 <= 1
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 48, 64, 64, generator=g)
    labels = torch.randint(0, 4, (2, 1, 48, 64, 64), generator=g)
    tiny, tiny_lab = torch.randn(2, 3, 8, 8, generator=g), torch.randint(0, 3, (2, 1, 8, 8), generator=g)

    def dice_fb(L):
        xx = logits.clone().requires_grad_()
        L.dice_loss(xx, labels).backward()
        return float(xx.grad.abs().sum())

    cases = {
        'ssim 2-D 256x256': lambda M, L: M.ssim(img_n, img, data_range=1.0),
        'ssim 3-D 32x96x96': lambda M, L: M.ssim(vol_n, vol, data_range=1.0),
        'hd95 64x96x96 aniso': lambda M, L: M.hd95(pred, target, sp),
        'dice_loss fwd 2x4x48x64x64': lambda M, L: float(L.dice_loss(logits, labels)),
        'dice_loss fwd+bwd': lambda M, L: dice_fb(L),
        'dice_loss 2x3x8x8 x100': lambda M, L: sum(float(L.dice_loss(tiny, tiny_lab)) for _ in range(100)),   # Python overhead
    }
    impl = {'before': (M_before, L_before), 'after': (M_after, L_after)}
    times = {(c, k): [] for c in cases for k in impl}
    for c, f in cases.items():   # warm up, and check both give the same value
        vb, va = f(*impl['before']), f(*impl['after'])
        assert abs(vb - va) <= 1e-9 * max(1.0, abs(vb)), (c, vb, va)
    for r in range(args.repeats):
        order = list(impl) if r % 2 == 0 else list(impl)[::-1]   # alternate which goes first
        for c, f in cases.items():
            for k in order:
                t0 = time.perf_counter(); f(*impl[k]); times[(c, k)].append(time.perf_counter() - t0)
    print(f"before = git {args.before}, after = this checkout; median of {args.repeats}, interleaved, 1 torch thread")
    print(f"{'case':28s} {'before ms':>10s} {'after ms':>10s} {'after/before':>13s}")
    for c in cases:
        b, a = statistics.median(times[(c, 'before')]), statistics.median(times[(c, 'after')])
        print(f"{c:28s} {b * 1e3:10.2f} {a * 1e3:10.2f} {a / b:13.3f}")


if __name__ == '__main__':
    main()
