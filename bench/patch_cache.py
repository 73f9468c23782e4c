"""Random 96^3 patches with their label, read from files on disk: medlab's prepared cache against its peers (issue 26).

The same files for everyone: `--n` pairs of uint8 `--size`^3 volumes (image + label, a few sheets of foreground as
in the surface-detection data) written as `.nii.gz` by nibabel, the usual file without random access. Each
configuration runs in a fresh Python process (so its peak RSS is its own), with one DataLoader worker, batch 2,
one warm-up pass (which fills the peers' caches), then `--patches` timed patches:

- `medlab`: `prepare_cache` (the .npy memory-map cache) + `StreamedPatchDataset` (foreground_ratio 0.5).
- `ram`: the same dataset with a `VolumeCache` holding every volume in RAM (the arrays-in-RAM reference).
- `monai`: `PersistentDataset` + `LoadImaged` + `EnsureChannelFirstd` + `RandCropByPosNegLabeld(pos=1, neg=1,
  num_samples=4)`, the setup MONAI's docs give for data larger than RAM.
- `torchio`: `SubjectsDataset` + `Queue(LabelSampler, samples_per_volume=4)` (skipped when torchio is missing).

Peak memory is that of the process and its loader worker together: the sum of their PSS (shared pages
counted once), sampled every 0.5 s (reading smaps costs CPU). Patches/s is the median of 3 timed rounds.
Separately, in one process without a loader, the cache format choice: `.npy` memory map against zarr v3 (64^3 chunks, zstd) on the same
random patches, with conversion time and size. Preparation is reported as seconds per GB of source voxels and the
cache's size against the raw voxels. Temporary files live in a temporary folder, deleted at the end.

    PYTHONPATH=. .venv/bin/python bench/patch_cache.py [--n 8] [--size 160] [--patches 200]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PATCH = 96


def write_data(d: Path, n: int, size: int):
    import nibabel as nib
    rng = np.random.default_rng(0)
    z = np.arange(size)[:, None, None]
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing='ij')
    for i in range(n):
        lab = np.zeros((size,) * 3, np.uint8)
        for k in range(3):
            surf = (k + 1) * size / 4 + 6 * np.sin(2 * np.pi * (yy / size + xx / size) + rng.uniform(0, 6))
            lab[np.abs(z - surf[None]) <= 1.5] = 1
        img = np.clip(lab * 80.0 + rng.normal(100, 30, lab.shape), 0, 255).astype(np.uint8)
        nib.save(nib.Nifti1Image(img.T, np.eye(4)), d/f'img{i}.nii.gz')
        nib.save(nib.Nifti1Image(lab.T, np.eye(4)), d/f'lab{i}.nii.gz')


_PEAK = [0]


def start_memory_sampler():
    "Sample the memory of this process and its loader workers every 0.5 s: the sum of their PSS (shared pages split)."
    import threading
    import psutil
    me = psutil.Process()

    def loop():
        while True:
            try: tot = sum(p.memory_full_info().pss for p in [me, *me.children(recursive=True)])
            except psutil.Error: tot = 0
            _PEAK[0] = max(_PEAK[0], tot); time.sleep(0.5)
    threading.Thread(target=loop, daemon=True).start()


def peak_rss_mb() -> float:
    """Peak memory of the process tree (PSS sum, sampled) in MB. (`ru_maxrss` would not do: Linux carries the parent's
    high-water mark over `fork` + `exec`, so every fresh process would report the launcher's peak.)"""
    return _PEAK[0] / 2**20


def timed(loader, n_patches: int, rounds: int = 3) -> float:
    "Median patches per second of `rounds` rounds of `n_patches` patches, after one warm-up pass over the loader."
    for _ in loader: pass
    rates = []
    for _ in range(rounds):
        got, t = 0, time.perf_counter()
        while got < n_patches:
            for b in loader:
                got += b['image'].shape[0]
                if got >= n_patches: break
        rates.append(got / (time.perf_counter() - t))
    return float(np.median(rates))


def run_medlab(d: Path, n: int, n_patches: int, ram: bool) -> dict:
    from torch.utils.data import DataLoader
    from medlab.data import StreamedPatchDataset, VolumeCache, prepare_cache
    cvs = prepare_cache([(d/f'img{i}.nii.gz', d/f'lab{i}.nii.gz') for i in range(n)], d/'cache', progress=False)  # ready
    cache = VolumeCache(max_items=n, max_bytes=2 * sum(c.nbytes for c in cvs)) if ram else None
    ds = StreamedPatchDataset(cvs, PATCH, samples_per_volume=max(1, n_patches // (2 * n)), foreground_ratio=0.5, cache=cache)
    dl = DataLoader(ds, batch_size=2, num_workers=1, persistent_workers=True, shuffle=True)
    return {'patches_per_s': timed(dl, n_patches), 'peak_rss_mb': peak_rss_mb()}


def run_monai(d: Path, n: int, n_patches: int) -> dict:
    from monai.data import DataLoader, PersistentDataset
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, RandCropByPosNegLabeld
    keys = ['image', 'label']
    tf = Compose([LoadImaged(keys, image_only=True), EnsureChannelFirstd(keys),
                  RandCropByPosNegLabeld(keys, label_key='label', spatial_size=(PATCH,) * 3, pos=1, neg=1, num_samples=4)])
    data = [{'image': str(d/f'img{i}.nii.gz'), 'label': str(d/f'lab{i}.nii.gz')} for i in range(n)]
    ds = PersistentDataset(data, tf, cache_dir=d/'monai_cache')
    dl = DataLoader(ds, batch_size=1, num_workers=1, persistent_workers=True, shuffle=True)   # 4 patches per item
    return {'patches_per_s': timed(dl, n_patches), 'peak_rss_mb': peak_rss_mb()}


def run_torchio(d: Path, n: int, n_patches: int) -> dict:
    import torchio as tio
    from torch.utils.data import DataLoader
    subjects = [tio.Subject(image=tio.ScalarImage(d/f'img{i}.nii.gz'), label=tio.LabelMap(d/f'lab{i}.nii.gz'))
                for i in range(n)]
    sampler = tio.LabelSampler(PATCH, label_name='label', label_probabilities={0: 1, 1: 1})
    queue = tio.Queue(tio.SubjectsDataset(subjects), max_length=16, samples_per_volume=4, sampler=sampler,
                      num_workers=1, shuffle_subjects=True, shuffle_patches=True)
    dl = DataLoader(queue, batch_size=2, num_workers=0)

    class _Dicts:   # torchio batches hold {'image': {'data': ...}}; count patches the same way as the others
        def __iter__(self):
            for b in dl: yield {'image': b['image'][tio.DATA]}
    return {'patches_per_s': timed(_Dicts(), n_patches), 'peak_rss_mb': peak_rss_mb()}


def run_prepare(d: Path, n: int) -> dict:
    from medlab.volumes import prepare_cache
    srcs = [(d/f'img{i}.nii.gz', d/f'lab{i}.nii.gz') for i in range(n)]
    out = d/'cache'       # kept: the medlab and ram runs read it
    t = time.perf_counter(); cvs = prepare_cache(srcs, out, progress=False); dt = time.perf_counter() - t
    raw = sum(c.nbytes for c in cvs)
    size = sum(f.stat().st_size for f in out.rglob('*') if f.is_file())
    return {'seconds': dt, 's_per_gb': dt / (raw / 1e9), 'cache_bytes': size, 'raw_bytes': raw,
            'workers': int(os.environ.get('MEDLAB_NUM_WORKERS', min(4, os.cpu_count() or 1)))}


def run_formats(d: Path, n: int, n_patches: int) -> dict:
    "The format choice, one process, no loader: .npy memory maps against zarr v3 (64^3 chunks, zstd)."
    import zarr
    from medlab.volumes import load_volume
    t = time.perf_counter()
    for i in range(n):
        for k in ('img', 'lab'):
            a = load_volume(d/f'{k}{i}.nii.gz').array
            z = zarr.create_array(str(d/'zarr'/f'{k}{i}.zarr'), shape=a.shape, chunks=(64,) * 3, dtype=a.dtype)
            z[...] = a
    zarr_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(n):
        for k in ('img', 'lab'): np.save(d/'npy'/f'{k}{i}.npy', load_volume(d/f'{k}{i}.nii.gz').array)
    npy_s = time.perf_counter() - t
    size = lambda p: sum(f.stat().st_size for f in p.rglob('*') if f.is_file())
    rng = np.random.default_rng(0)
    shape = np.load(d/'npy'/'img0.npy', mmap_mode='r').shape
    jobs = [(int(rng.integers(n)), tuple(int(rng.integers(0, s - PATCH + 1)) for s in shape)) for _ in range(n_patches)]
    opened = {'npy': {(k, i): np.load(d/'npy'/f'{k}{i}.npy', mmap_mode='r') for k in ('img', 'lab') for i in range(n)},
              'zarr': {(k, i): zarr.open_array(str(d/'zarr'/f'{k}{i}.zarr'), mode='r') for k in ('img', 'lab') for i in range(n)},
              'ram': {(k, i): np.load(d/'npy'/f'{k}{i}.npy') for k in ('img', 'lab') for i in range(n)}}
    rate = {}
    for name, arrs in opened.items():
        for rep in range(2):                     # the first pass warms the page cache
            t = time.perf_counter()
            for i, (a, b, c) in jobs:
                sl = (slice(a, a + PATCH), slice(b, b + PATCH), slice(c, c + PATCH))
                np.array(arrs[('img', i)][sl]); np.array(arrs[('lab', i)][sl])
            rate[name] = n_patches / (time.perf_counter() - t)
    return {'npy_patches_per_s': rate['npy'], 'zarr_patches_per_s': rate['zarr'], 'ram_patches_per_s': rate['ram'],
            'npy_bytes': size(d/'npy'), 'zarr_bytes': size(d/'zarr'), 'npy_convert_s': npy_s, 'zarr_convert_s': zarr_s}


def child(mode: str, d: Path, n: int, n_patches: int) -> dict:
    start_memory_sampler()
    if mode == 'medlab': return run_medlab(d, n, n_patches, ram=False)
    if mode == 'ram': return run_medlab(d, n, n_patches, ram=True)
    if mode == 'monai': return run_monai(d, n, n_patches)
    if mode == 'torchio': return run_torchio(d, n, n_patches)
    if mode == 'prepare': return run_prepare(d, n)
    if mode == 'formats':
        (d/'zarr').mkdir(exist_ok=True); (d/'npy').mkdir(exist_ok=True)
        try: return run_formats(d, n, n_patches)
        finally: shutil.rmtree(d/'zarr'); shutil.rmtree(d/'npy')
    raise ValueError(mode)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=8, help='number of image/label pairs')
    ap.add_argument('--size', type=int, default=160, help='edge of each cubic volume')
    ap.add_argument('--patches', type=int, default=200, help='timed patches per configuration')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--dir', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print('RESULT ' + json.dumps(child(a.child, Path(a.dir), a.n, a.patches))); return
    try: import torchio  # noqa: F401
    except ImportError: torchio = None
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter(); write_data(d, a.n, a.size)
        src_bytes = sum(f.stat().st_size for f in d.glob('*.nii.gz'))
        print(f"data: {a.n} pairs of uint8 {a.size}^3 .nii.gz ({src_bytes / 1e6:.1f} MB on disk, "
              f"{2 * a.n * a.size ** 3 / 1e6:.1f} MB of voxels), written in {time.perf_counter() - t:.1f} s; patch {PATCH}^3")
        res = {}
        for mode in ['prepare', 'formats', 'medlab', 'ram', 'monai'] + (['torchio'] if torchio else []):
            cmd = [sys.executable, __file__, '--child', mode, '--dir', str(d), '--n', str(a.n), '--patches', str(a.patches)]
            p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if p.returncode or not line:
                print(f"{mode}: failed\n{p.stderr[-2000:]}"); continue
            res[mode] = json.loads(line[0][7:])
        if 'prepare' in res:
            r = res['prepare']
            print(f"preparation ({r['workers']} worker(s)): {r['seconds']:.2f} s for {r['raw_bytes'] / 1e9:.3f} GB of voxels = "
                  f"{r['s_per_gb']:.1f} s/GB; cache {r['cache_bytes'] / 1e6:.1f} MB = {r['cache_bytes'] / r['raw_bytes']:.3f}x raw voxels")
        if 'formats' in res:
            r = res['formats']
            print(f"format choice, one process, page cache warm: .npy memmap {r['npy_patches_per_s']:.0f} patches/s, "
                  f"zarr v3 64^3 zstd {r['zarr_patches_per_s']:.0f} patches/s, in-RAM arrays {r['ram_patches_per_s']:.0f} patches/s; "
                  f"size npy {r['npy_bytes'] / 1e6:.1f} MB, zarr {r['zarr_bytes'] / 1e6:.1f} MB; "
                  f"conversion npy {r['npy_convert_s']:.1f} s, zarr {r['zarr_convert_s']:.1f} s")
        print(f"\n{'loader (1 worker)':<28}{'patches/s':>12}{'peak MB (PSS)':>15}")
        for mode in ('medlab', 'ram', 'monai', 'torchio'):
            if mode in res: print(f"{mode:<28}{res[mode]['patches_per_s']:>12.1f}{res[mode]['peak_rss_mb']:>15.0f}")
        if 'medlab' in res:
            m = res['medlab']
            if 'ram' in res: print(f"\ncache / RAM patches/s: {m['patches_per_s'] / res['ram']['patches_per_s']:.2f} (target >= 0.7)")
            peers = [k for k in ('monai', 'torchio') if k in res]
            if peers:
                fast = max(peers, key=lambda k: res[k]['patches_per_s']); lean = min(peers, key=lambda k: res[k]['peak_rss_mb'])
                print(f"medlab / fastest peer ({fast}) patches/s: {m['patches_per_s'] / res[fast]['patches_per_s']:.1f}x (target >= 5)")
                print(f"medlab / leanest peer ({lean}) peak memory: {m['peak_rss_mb'] / res[lean]['peak_rss_mb']:.2f} (target <= 1)")


if __name__ == '__main__':
    main()
