#!/usr/bin/env python
"""Look at the built docs as a person would: render every `_docs/**/*.html` page in headless Chromium and save a
full-width screenshot per page under `tools/screenshots/` (and a report of page heights and image counts).

    python tools/build_docs.py && python tools/docs_check.py [--height 2400]

Chromium comes from Debian (`apt-get install chromium`). Without it the script says so and exits 0 unless
`--require` is given, so CI can skip the browser but never the HTML build.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--hide-scrollbars']


def find_browser():
    "Debian's chromium (or another Chromium on the PATH), or `None`."
    for name in ('/usr/bin/chromium', 'chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name)


def browser_or_skip(tool: str, require: bool):
    "`(browser, None)`, or `(None, exit code)` after saying that `tool` is skipped (1 with `require`, else 0)."
    browser = find_browser()
    if browser is None: print(f'{tool}: no chromium on this machine; skipped (apt-get install chromium)')
    return browser, (None if browser else (1 if require else 0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--docs', default='_docs'); ap.add_argument('--out', default='tools/screenshots')
    ap.add_argument('--width', type=int, default=1280); ap.add_argument('--height', type=int, default=2400)
    ap.add_argument('--require', action='store_true', help='fail when no Chromium is installed')
    args = ap.parse_args(argv)
    browser, code = browser_or_skip('docs_check', args.require)
    if browser is None: return code
    docs, out = ROOT / args.docs, ROOT / args.out
    pages = sorted(docs.rglob('*.html'))
    if not pages: sys.exit(f'docs_check: no HTML pages under {docs}; run tools/build_docs.py first')
    out.mkdir(parents=True, exist_ok=True)
    bad = []
    for page in pages:
        shot = out / (str(page.relative_to(docs)).replace('/', '__')[:-5] + '.png')
        cmd = [browser, *FLAGS, f'--window-size={args.width},{args.height}', f'--screenshot={shot}', page.as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        text = page.read_text(encoding='utf-8')
        n_img = len(re.findall(r'<img\b', text))
        ok = r.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000
        print(f"{'ok ' if ok else 'BAD'} {page.relative_to(docs)}: {n_img} image(s), screenshot {shot.relative_to(ROOT)}")
        if not ok: bad.append(page.name)
    if bad: sys.exit(f'docs_check: {len(bad)} page(s) failed to render: {bad}')


if __name__ == '__main__':
    sys.exit(main())
