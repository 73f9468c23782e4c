"""Out-of-core sliding-window inference (issue 25): memory, time, two processes, resume.

Every measurement runs in a fresh subprocess with one torch thread (OMP/MKL threads 1); temporary volumes live
in a tempfile directory that is deleted at the end. The predictor is pointwise (sigmoid(x * 2/255 - 1) on a
uint8 volume), so any difference between runs is the machinery's.

(a) memory: 128^3 windows, overlap 0.25, gaussian, a D x H x W uint8 zarr volume (default 2048 x 1024 x 1024:
    2 GiB; 8 GiB as float32) into a float16 zarr output chunked like the input (128^3) but with chunk rows cut to
    the slab stride, 96 (`create_output(..., stride=96)`; `--unaligned`: 128, as the input). Peak RSS rise (VmHWM after
    the run minus VmRSS before it, with VmHWM reset through /proc/self/clear_refs) as a share of the volume's
    float32 size (target <= 0.15), and the same at half the depth (target: ratio <= 1.1).
(b) time: an S^3 volume (default 512) zarr -> zarr against the in-RAM sliding_window_inference of the same
    volume as a float32 tensor (target <= 1.15) and MONAI's sliding_window_inference on that tensor, CPU time
    and wall, in one subprocess, interleaved.
(c) two processes (gloo) against one on the S^3 volume: identical output and the wall ratio.
(d) resume: SIGKILL a run at a random moment, run again with resume=True: identical output, and the share of
    predictor calls redone.

Run from the repository root (small sizes for a quick check):
    python bench/out_of_core.py                         # everything at full size (minutes)
    python bench/out_of_core.py --mem-shape 256 256 256 --size 192 --parts mem time shard resume
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
PATCH, OVERLAP, MODE = 128, 0.25, 'gaussian'
STRIDE = int(PATCH * (1 - OVERLAP))                # 96: output chunk rows are cut to it (create_output stride=)


def status_kib(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'): return int(line.split()[1])
    raise RuntimeError(f'no {key} in /proc/self/status')


def child(a):
    "One measured run: prints a JSON line."
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from medlab.patches import sliding_window_inference, open_array, create_output
    count = open(a.count, 'ab', buffering=0) if a.count else None

    def pred(t):
        if count is not None: count.write(b'.')
        return torch.sigmoid(t * (2 / 255) - 1)

    if a.dist: torch.distributed.init_process_group('gloo')
    res = {}
    if a.what == 'ooc':
        inp = open_array(a.inp)
        out = create_output(a.out, inp.shape, a.dtype, like=inp, overwrite=not a.resume and not a.dist,
                            stride=None if a.unaligned else STRIDE)
        try:
            with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        except OSError: pass
        base = status_kib('VmRSS')
        t0, c0 = time.perf_counter(), time.process_time()
        sliding_window_inference(inp, pred, PATCH, overlap=OVERLAP, mode=MODE, sw_batch_size=a.sw_batch,
                                 out=out, resume=a.resume)
        res = {'wall_s': time.perf_counter() - t0, 'cpu_s': time.process_time() - c0,
               'rss_rise_mib': (status_kib('VmHWM') - base) / 1024}
    elif a.what == 'time':                      # interleaved: ooc zarr -> zarr, in RAM, MONAI
        import monai.inferers
        inp = open_array(a.inp)
        x = torch.from_numpy(np.asarray(inp[:]).astype(np.float32))[None, None]
        runs = {
            'ooc': lambda: sliding_window_inference(
                inp, pred, PATCH, overlap=OVERLAP, mode=MODE, sw_batch_size=a.sw_batch,
                out=create_output(a.out, inp.shape, a.dtype, like=inp, overwrite=True,
                                  stride=None if a.unaligned else STRIDE)),
            'ram': lambda: sliding_window_inference(x, pred, PATCH, overlap=OVERLAP, mode=MODE,
                                                    sw_batch_size=a.sw_batch),
            'monai': lambda: monai.inferers.sliding_window_inference(x, (PATCH,) * 3, a.sw_batch, pred,
                                                                     overlap=OVERLAP, mode=MODE)}
        with torch.no_grad():
            for _ in range(a.repeats):
                for k, fn in runs.items():
                    t0, c0 = time.perf_counter(), time.process_time(); fn()
                    res.setdefault(k, []).append((time.perf_counter() - t0, time.process_time() - c0))
        ref = runs['ram']()[0, 0].numpy().astype(np.float16)
        res['max_err_ooc_vs_ram'] = float(np.abs(np.asarray(open_array(a.out)[:], np.float32) - ref).max())
    if a.dist: torch.distributed.destroy_process_group()
    print(json.dumps(res), flush=True)


def run_child(args, env=ENV, **kw):
    p = subprocess.run([sys.executable, __file__, '--child', *args], env=env, capture_output=True, text=True, **kw)
    if p.returncode: raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def make_volume(path, shape, chunks=(128, 128, 128)):
    "A compressible uint8 zarr volume written slab by slab (never whole in memory)."
    import numpy as np
    import zarr
    z = zarr.create_array(store=path, shape=shape, chunks=tuple(min(c, s) for c, s in zip(chunks, shape)),
                          dtype='uint8', overwrite=True)
    y, x = np.ogrid[:shape[1], :shape[2]]
    for z0 in range(0, shape[0], chunks[0]):
        zz = np.arange(z0, min(z0 + chunks[0], shape[0]))[:, None, None]
        z[z0:z0 + len(zz)] = ((zz * 3 + y // 2 + x // 3) % 256).astype(np.uint8)
    return z


def part_mem(a, tmp):
    D, H, W = a.mem_shape
    out = {}
    for depth in (D // 2, D):
        inp = os.path.join(tmp, f'mem{depth}.zarr')
        make_volume(inp, (depth, H, W))
        r = run_child(['ooc', '--inp', inp, '--out', os.path.join(tmp, f'memout{depth}.zarr'), '--dtype', 'float16']
                      + ['--unaligned'] * a.unaligned)
        f32 = depth * H * W * 4 / 2**20
        out[depth] = r
        print(f"  (a) {depth}x{H}x{W} uint8 -> float16 zarr: peak RSS rise {r['rss_rise_mib']:.0f} MiB = "
              f"{r['rss_rise_mib'] / f32:.3f}x the float32 volume ({f32:.0f} MiB; target <= 0.15); "
              f"wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s", flush=True)
        shutil.rmtree(inp); shutil.rmtree(os.path.join(tmp, f'memout{depth}.zarr'), ignore_errors=True)
    r = out[D]['rss_rise_mib'] / out[D // 2]['rss_rise_mib']
    print(f"  (a) peak RSS rise at depth {D} / at depth {D // 2}: {r:.3f}x (target <= 1.1)", flush=True)


def part_time(a, inp, tmp):
    import statistics
    r = run_child(['time', '--inp', inp, '--out', os.path.join(tmp, 'tout.zarr'), '--dtype', 'float16',
                   '--repeats', str(a.repeats)] + ['--unaligned'] * a.unaligned)
    med = {k: [statistics.median(v[i] for v in r[k]) for i in (0, 1)] for k in ('ooc', 'ram', 'monai')}
    pair = lambda k, i: statistics.median(x[i] / y[i] for x, y in zip(r[k], r['ram']))
    print(f"  (b) {a.size}^3, {a.repeats} interleaved repeats, medians: out-of-core zarr->zarr "
          f"wall {med['ooc'][0]:.2f} s "
          f"CPU {med['ooc'][1]:.2f} s; in RAM wall {med['ram'][0]:.2f} s CPU {med['ram'][1]:.2f} s; MONAI wall "
          f"{med['monai'][0]:.2f} s CPU {med['monai'][1]:.2f} s", flush=True)
    print(f"  (b) out-of-core / in RAM: CPU {pair('ooc', 1):.3f}x, wall {pair('ooc', 0):.3f}x (target <= 1.15); "
          f"MONAI / in RAM: CPU {pair('monai', 1):.3f}x; max |ooc float16 - in-RAM float16| "
          f"{r['max_err_ooc_vs_ram']:.2e}", flush=True)


def part_shard(a, inp, tmp):
    import numpy as np
    from medlab.distributed import free_port
    one = os.path.join(tmp, 'one.zarr'); two = os.path.join(tmp, 'two.zarr')
    r1 = run_child(['ooc', '--inp', inp, '--out', one, '--dtype', 'float32'])
    from medlab.patches import create_output, open_array
    create_output(two, open_array(inp).shape, 'float32', like=open_array(inp), overwrite=True)
    env = dict(ENV, WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    t0 = time.perf_counter()
    ps = [subprocess.Popen([sys.executable, __file__, '--child', 'ooc', '--inp', inp, '--out', two, '--dtype',
                            'float32', '--dist'], env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    outs = [p.communicate() for p in ps]
    wall2 = time.perf_counter() - t0
    if any(p.returncode for p in ps): raise RuntimeError(outs[0][1][-2000:] + outs[1][1][-2000:])
    same = np.array_equal(np.asarray(open_array(one)[:]), np.asarray(open_array(two)[:]))
    print(f"  (c) {a.size}^3: 2 processes (gloo) vs 1: identical output {same}; wall {wall2:.2f} s vs "
          f"{r1['wall_s']:.2f} s (run only; 2 processes include their start): ratio {wall2 / r1['wall_s']:.3f}x "
          f"on {os.cpu_count()} shared cores", flush=True)


def part_resume(a, inp, tmp):
    import numpy as np
    from medlab.patches import open_array
    ref, out = os.path.join(tmp, 'ref.zarr'), os.path.join(tmp, 'res.zarr')
    cfull, ckill, cres = (os.path.join(tmp, f'count{i}') for i in range(3))
    r = run_child(['ooc', '--inp', inp, '--out', ref, '--dtype', 'float16', '--count', cfull])
    delay = random.Random(a.seed).uniform(0.1, 0.9) * r['wall_s']
    p = subprocess.Popen([sys.executable, __file__, '--child', 'ooc', '--inp', inp, '--out', out, '--dtype',
                          'float16', '--count', ckill], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while p.poll() is None and not (os.path.exists(ckill) and os.path.getsize(ckill)): time.sleep(0.05)
    time.sleep(delay); p.send_signal(signal.SIGKILL); p.wait()            # a random moment after its first window
    run_child(['ooc', '--inp', inp, '--out', out, '--dtype', 'float16', '--count', cres, '--resume'])
    n = [os.path.getsize(c) if os.path.exists(c) else 0 for c in (cfull, ckill, cres)]
    same = np.array_equal(np.asarray(open_array(ref)[:]), np.asarray(open_array(out)[:]))
    print(f"  (d) {a.size}^3: SIGKILL after {delay:.1f} s ({n[1]} of {n[0]} predictor calls made), resumed with "
          f"{n[2]} calls: identical output {same}; redone {(n[1] + n[2] - n[0]) / n[0]:.1%} of a run's calls",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mem-shape', type=int, nargs=3, default=[2048, 1024, 1024], metavar=('D', 'H', 'W'))
    ap.add_argument('--size', type=int, default=512, help='edge of the cubic volume of parts time, shard, resume')
    ap.add_argument('--parts', nargs='+', default=['mem', 'time', 'shard', 'resume'])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--sw-batch', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--child', choices=['ooc', 'time'])
    ap.add_argument('--inp'); ap.add_argument('--out'); ap.add_argument('--dtype', default='float16')
    ap.add_argument('--count'); ap.add_argument('--resume', action='store_true')
    ap.add_argument('--dist', action='store_true')
    ap.add_argument('--unaligned', action='store_true',
                    help='output chunked exactly like the input (128 rows) instead of cut to the slab stride (96)')
    a = ap.parse_args()
    if a.child:
        a.what = a.child
        return child(a)
    tmp = tempfile.mkdtemp(prefix='medlab-ooc-')
    try:
        print(f"out-of-core benchmark: {PATCH}^3 windows, overlap {OVERLAP}, {MODE}, sw_batch_size {a.sw_batch}, "
              f"one thread per process, temporary files in {tmp}", flush=True)
        if 'mem' in a.parts: part_mem(a, tmp)
        rest = [p for p in ('time', 'shard', 'resume') if p in a.parts]
        if rest:
            inp = os.path.join(tmp, 'cube.zarr'); make_volume(inp, (a.size,) * 3)
            for p in rest: globals()[f'part_{p}'](a, inp, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
