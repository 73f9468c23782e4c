#!/usr/bin/env python
"""Use medlab's widgets as a person would: in a real JupyterLab, in headless Chromium, moving real sliders.

    python tools/widgets_check.py [--out tools/screenshots] [--keep]

1. writes synthetic data (a CT-like volume, its reconstruction, an EPID arc and a prediction) and a notebook that
   shows `SliceViewer` and `EPIDPlayer` on it into a temporary folder;
2. starts JupyterLab on 127.0.0.1 (a free port, a random token, this checkout's medlab on the kernel's path);
3. opens the notebook in Debian's chromium driven by Playwright (`pip install playwright`; Playwright's own
   browser download is not needed), runs all cells and waits for both widgets to render;
4. drags the slice slider of the SliceViewer and the control-point slider of the EPIDPlayer with the mouse, and
   saves a screenshot of each widget before and after under `tools/screenshots/` (and the whole page);
5. fails when a pair of screenshots is identical, when a widget's picture did not change, or when the page shows
   an error (a traceback in an output, "Error displaying widget", a dead kernel).

Without chromium it prints that it skipped and exits 0 (`--require` makes that a failure), so CI can run it anywhere.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_check import FLAGS, ROOT, browser_or_skip  # noqa: E402  one way to find chromium and one set of flags for both checks

CHROMIUM_ARGS = [f for f in FLAGS if f != '--headless']   # Playwright adds its own headless flag
ERROR_TEXTS = ('Error displaying widget', 'Error rendering', 'Traceback (most recent call last)', 'Kernel Restarting',
               'Failed to load model', 'Model not found')

SETUP = '''\
import numpy as np
from medlab.epid import random_vmat_plan
from medlab.widgets import EPIDPlayer, SliceViewer
d = np.load('data.npz')
ct, recon, frames, pred = d['ct'], d['recon'], d['frames'], d['pred']
plan = random_vmat_plan(len(frames), seed=0)'''
CELL_VIEWER = '''\
viewer = SliceViewer({'original': ct, 'reconstruction': recon}, spacing_mm=(2.5, 0.8, 0.8), mask=ct > 500, window='mediastinum')
viewer'''
CELL_PLAYER = '''\
player = EPIDPlayer(frames, plan, predictions=pred)
player.index.value = 3
player'''


def write_inputs(folder: Path):
    "Synthetic data and the notebook that shows the two widgets on it."
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from scipy import ndimage
    from medlab.data import synthetic_ct_volume
    from medlab.epid import synthetic_epid_sequence
    ct = np.interp(synthetic_ct_volume((40, 128, 128)), [0, .1, .2, .3, 1], [-1000, -700, 40, 80, 1000]).astype(np.float32)
    recon = ndimage.gaussian_filter(ct, 0.8) + np.random.default_rng(0).normal(0, 20, ct.shape).astype(np.float32)
    frames = synthetic_epid_sequence(24, n=64, seed=0)['frames'].numpy()
    pred = ndimage.gaussian_filter(frames, (0, 1.2, 1.2)) * 1.03
    np.savez(folder / 'data.npz', ct=ct, recon=recon, frames=frames, pred=pred)
    cells = [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'source': s}
             for i, s in enumerate((SETUP, CELL_VIEWER, CELL_PLAYER))]
    nb = {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    (folder / 'widgets_check.ipynb').write_text(json.dumps(nb, indent=1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def start_lab(folder: Path, port: int, token: str, log):
    settings = folder / '.settings' / '@jupyterlab' / 'apputils-extension'
    settings.mkdir(parents=True, exist_ok=True)                  # no "get notified about Jupyter news?" toast over the widgets
    (settings / 'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false'}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep),
               JUPYTER_RUNTIME_DIR=str(folder / '.runtime'), JUPYTERLAB_WORKSPACES_DIR=str(folder / '.workspaces'),
               JUPYTER_CONFIG_DIR=str(folder / '.config'), JUPYTERLAB_SETTINGS_DIR=str(folder / '.settings'), MPLBACKEND='Agg')
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}', '--port-retries=0',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={folder}', '--ServerApp.open_browser=False',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
           '--LabApp.extension_manager=readonly']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')   # CI containers run as root
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}/api/status?token={token}'
    for _ in range(240):
        if proc.poll() is not None: raise SystemExit(f'widgets_check: JupyterLab exited with code {proc.returncode}; see {log.name}')
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return proc
        except OSError: time.sleep(0.5)
    proc.terminate(); raise SystemExit(f'widgets_check: JupyterLab did not answer on port {port} within 2 minutes; see {log.name}')


def stop_lab(proc):
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(5)


def page_errors(page) -> list[str]:
    text = page.inner_text('body')
    bad = [e for e in ERROR_TEXTS if e in text]
    n_err = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').count()
    if n_err:
        bad += [page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').nth(i).inner_text()[:500] for i in range(n_err)]
    return bad


def widget_img_src(area) -> str:
    return area.locator('img').first.get_attribute('src') or ''


def drag_slider(page, area, index: int, fraction: float):
    "Drag the handle of the `index`-th slider in `area` to `fraction` of its track, with the mouse."
    slider = area.locator('.widget-slider').nth(index)
    track = slider.locator('.noUi-target, .slider').first.bounding_box()
    handle = slider.locator('.noUi-handle').first
    hb = handle.bounding_box()
    page.mouse.move(hb['x'] + hb['width'] / 2, hb['y'] + hb['height'] / 2)
    page.mouse.down()
    page.mouse.move(track['x'] + fraction * track['width'], hb['y'] + hb['height'] / 2, steps=12)
    page.mouse.up()


def wait_for_change(page, area, old_src: str, timeout_s: float = 60) -> str:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        src = widget_img_src(area)
        if src and src != old_src: return src
        page.wait_for_timeout(250)
    return widget_img_src(area)


def run_check(chromium: str, out: Path, keep: bool) -> list[str]:
    from playwright.sync_api import sync_playwright
    failures = []
    folder = Path(tempfile.mkdtemp(prefix='medlab-widgets-check-'))
    log = open(folder / 'jupyterlab.log', 'w')
    try:
        write_inputs(folder)
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(folder, port, token, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={'width': 1500, 'height': 1100})
                page.goto(f'http://127.0.0.1:{port}/lab/tree/widgets_check.ipynb?token={token}', timeout=120_000)
                page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=120_000)
                page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"], .jp-Toolbar-kernelStatus', timeout=120_000)
                page.wait_for_timeout(2000)
                page.locator('.jp-Notebook').first.click()
                page.keyboard.press('Escape')
                # Run > Run All Cells, through the menu as a person would
                page.get_by_role('menuitem', name='Run', exact=True).click()
                page.get_by_role('menuitem', name='Run All Cells', exact=True).click()
                areas = page.locator('.jp-OutputArea-output .widget-vbox')
                t0 = time.time()
                while time.time() - t0 < 240:
                    if areas.count() >= 2 and all(widget_img_src(areas.nth(i)).startswith(('blob:', 'data:')) for i in range(2)): break
                    errs = page_errors(page)
                    if errs: break
                    page.wait_for_timeout(500)
                page.wait_for_timeout(1500)
                out.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out / 'widgets_page.png'), full_page=True)
                errs = page_errors(page)
                if errs: return [f'the page shows an error: {e!r}' for e in errs]
                if areas.count() < 2: return [f'expected 2 widgets (SliceViewer, EPIDPlayer) on the page, found {areas.count()}; see {out / "widgets_page.png"}']
                for name, i, slider, frac in (('slice_viewer', 0, 0, 0.8), ('epid_player', 1, 0, 0.7)):
                    area = areas.nth(i)
                    area.scroll_into_view_if_needed()
                    before_src = widget_img_src(area)
                    shot_before = out / f'{name}_before.png'; area.screenshot(path=str(shot_before))
                    drag_slider(page, area, slider, frac)
                    after_src = wait_for_change(page, area, before_src)
                    page.wait_for_timeout(500)
                    shot_after = out / f'{name}_after.png'; area.screenshot(path=str(shot_after))
                    same_shot = shot_before.read_bytes() == shot_after.read_bytes()
                    print(f"{name}: screenshots {shot_before.relative_to(ROOT) if shot_before.is_relative_to(ROOT) else shot_before} / "
                          f"{shot_after.name}: {'IDENTICAL' if same_shot else 'differ'}; picture {'changed' if after_src != before_src else 'UNCHANGED'}")
                    if same_shot: failures.append(f'{name}: the screenshots before and after moving the slider are identical')
                    if after_src == before_src: failures.append(f'{name}: the widget picture did not change after moving the slider')
                page.screenshot(path=str(out / 'widgets_page_after.png'), full_page=True)
                errs = page_errors(page)
                failures += [f'the page shows an error after moving the sliders: {e!r}' for e in errs]
                browser.close()
        finally:
            stop_lab(lab)
    finally:
        log.close()
        if keep or failures: print(f'widgets_check: inputs and the JupyterLab log are in {folder}')
        else: shutil.rmtree(folder, ignore_errors=True)
    return failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='tools/screenshots', help='folder for the screenshots (relative to the repository)')
    ap.add_argument('--require', action='store_true', help='fail when chromium is not installed')
    ap.add_argument('--keep', action='store_true', help='keep the temporary notebook, data and JupyterLab log')
    args = ap.parse_args(argv)
    chromium, code = browser_or_skip('widgets_check', args.require)
    if chromium is None: return code
    try: import playwright.sync_api  # noqa: F401
    except ImportError:
        print('widgets_check: FAILED: chromium is installed but Playwright is not; pip install playwright '
              '(its own browser download is not needed: the check drives /usr/bin/chromium)')
        return 1
    out = (ROOT / args.out).resolve()
    failures = run_check(chromium, out, args.keep)
    if failures:
        print('widgets_check: FAILED\n  ' + '\n  '.join(failures)); return 1
    print(f'widgets_check: ok (screenshots in {out})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
