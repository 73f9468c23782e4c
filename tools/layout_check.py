"""Checks the house layout rules of issue 22 on the notebooks and the generated package; exits 1 on a breach.

- no module in medlab/ over 1,000 lines (the generated `_modidx.py` aside);
- no exported cell over 100 lines or with more than three public top-level definitions;
- no chapter with more than 15 % of its test cells after its last exported cell;
- under 2 % of medlab/'s lines over 120 characters.

Run: `python tools/layout_check.py [-v] [--root DIR]` (`-v`: every figure; `--root`: another checkout)."""
import ast, json, re, sys
from pathlib import Path

ROOT = Path(sys.argv[sys.argv.index('--root') + 1]).resolve() if '--root' in sys.argv else Path(__file__).resolve().parents[1]
MAX_MODULE, MAX_CELL, MAX_PUBLIC, MAX_LATE, MAX_LONG, WIDTH = 1000, 100, 3, 0.15, 0.02, 120
EXPORT = re.compile(r'^#\|\s*export[is]?\b', re.M)
TEST = re.compile(r'\b(test_eq|test_close|test_fail|test_ne|test_warns|assert)\b')

def public_defs(src: str) -> list[str]:
    "Top-level public names a cell defines (functions, classes, assigned constants)."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    names = []
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.append(n.name)
    return [n for n in names if not n.startswith('_')]

def code_cells(nb: Path) -> list[str]:
    return [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']

def main(verbose: bool = False) -> int:
    problems = []
    mods = [p for p in sorted((ROOT / 'medlab').rglob('*.py')) if p.name != '_modidx.py']
    lines = {p: p.read_text().splitlines() for p in mods}
    for p, ls in lines.items():
        if len(ls) > MAX_MODULE: problems.append(f"{p.relative_to(ROOT)}: {len(ls)} lines (max {MAX_MODULE})")
    total = sum(map(len, lines.values()))
    long = sum(len(l) > WIDTH for ls in lines.values() for l in ls)
    share = long / max(total, 1)
    if share >= MAX_LONG: problems.append(f"medlab/: {long} of {total} lines ({share:.1%}) over {WIDTH} characters (max {MAX_LONG:.0%})")
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')):
        cells = code_cells(nb)
        for i, src in enumerate(cells):
            if not EXPORT.search(src): continue
            n, pub = len(src.splitlines()), public_defs(src)
            if n > MAX_CELL: problems.append(f"{nb.name} code cell {i}: {n} lines (max {MAX_CELL})")
            if len(pub) > MAX_PUBLIC: problems.append(f"{nb.name} code cell {i}: {len(pub)} public definitions {pub}")
        last = max((i for i, s in enumerate(cells) if EXPORT.search(s)), default=-1)
        tests = [i for i, s in enumerate(cells) if TEST.search(s) and not EXPORT.search(s)]
        late = sum(i > last for i in tests)
        if last >= 0 and len(tests) >= 4 and late / len(tests) > MAX_LATE:
            problems.append(f"{nb.name}: {late} of {len(tests)} test cells after the last exported cell")
    if verbose:
        for p, ls in lines.items(): print(f"{len(ls):6d} {p.relative_to(ROOT)}")
        print(f"lines over {WIDTH} characters: {long} of {total} ({share:.1%})")
    print('\n'.join(problems) if problems else 'layout: all rules hold')
    return 1 if problems else 0

if __name__ == '__main__': sys.exit(main('-v' in sys.argv))
