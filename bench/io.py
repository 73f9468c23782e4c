"""Benchmark medlab.data.load_volume against the same read done directly with nibabel / pydicom (issue 17).

Cases, all in one run (files written to a temporary folder first, then read with a warm page cache):

1. A 256^3 int16 NIfTI, gzipped (`.nii.gz`, the usual clinical file) and uncompressed (`.nii`), stored RAS
   (already canonical). Direct read: `np.asanyarray(nib.load(p).dataobj)`, the stored array as nibabel gives it.
   medlab: `load_volume(p)` (canonical orientation, (D, H, W) order, native byte order, spacing and affine).
   For `.nii` both sides return nibabel's memory map, as nibabel does by default: that ratio only prices
   load_volume's fixed cost (header, affine, orientation check), a fraction of a millisecond; no target.
2. The same NIfTI stored LPS (two axes flipped): medlab then also reorients it (a copy); the direct read
   does not, so this ratio prices canonical orientation itself (reported, not a target).
3. A 200-slice CT series, 512 x 512 int16 with rescale slope/intercept, files in shuffled name order.
   Direct read: `pydicom.dcmread` every file, sort by `ImagePositionPatient` z, stack
   `pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)` (float64, as pydicom returns it).
   medlab: `load_volume(folder)` (sorted along the slice normal, spacing measured and checked, float32 HU, canonical).

Target: medlab / direct <= 1.2 for the 200-slice series and the 256^3 NIfTI. Timings are medians of
interleaved repeats (all printed); the machine is shared, so the fastest-run ratio is printed too.

    PYTHONPATH=. .venv-bench/bin/python bench/io.py [--repeats N]
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from medlab.data import load_volume


def write_nifti(d):
    import nibabel as nib
    rng = np.random.default_rng(0)
    vol = rng.integers(-1000, 2000, (256, 256, 256), dtype=np.int16)
    ras = np.diag([0.9, 0.9, 1.2, 1.0])
    lps = np.diag([-0.9, -0.9, 1.2, 1.0])
    nib.save(nib.Nifti1Image(vol, ras), d/'ras.nii.gz')
    nib.save(nib.Nifti1Image(vol, ras), d/'ras.nii')
    nib.save(nib.Nifti1Image(vol, lps), d/'lps.nii.gz')
    return vol


def write_series(folder, n=200, size=512):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    folder.mkdir()
    series, rng = generate_uid(), np.random.default_rng(1)
    pix = rng.integers(0, 3000, (size, size), dtype=np.int16)
    for k, z in enumerate(rng.permutation(n)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = CTImageStorage, generate_uid(), ExplicitVRLittleEndian
        ds = Dataset(); ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, series, 'CT'
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, 'MONOCHROME2'
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.8], 1.25
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [-200.0, -200.0, float(z) * 1.25]
        ds.InstanceNumber, ds.RescaleSlope, ds.RescaleIntercept = int(z) + 1, 1, -1024
        ds.PixelData = np.roll(pix, int(z), axis=0).tobytes()
        ds.save_as(folder/f'{k:05d}.dcm', enforce_file_format=True)


def direct_nifti(p):
    import nibabel as nib
    return np.asanyarray(nib.load(str(p)).dataobj)


def direct_dicom(folder):
    import pydicom
    from pydicom.pixels import apply_modality_lut
    dss = [pydicom.dcmread(f) for f in sorted(folder.iterdir())]
    dss.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack([apply_modality_lut(ds.pixel_array, ds) for ds in dss])


def timed(fns, repeats):
    ts = [[] for _ in fns]
    for _ in range(repeats):                   # interleaved
        for i, fn in enumerate(fns):
            t = time.perf_counter(); out = fn(); ts[i].append(time.perf_counter() - t); del out
    return ts


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=7)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (shared 2-core machine)")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        vol = write_nifti(d)
        write_series(d/'ct')
        # correctness first: the same voxels
        assert np.array_equal(load_volume(d/'ras.nii.gz').array, vol.T) and np.array_equal(load_volume(d/'lps.nii.gz').array, vol[::-1, ::-1].T)
        a, b = load_volume(d/'ct', canonical=False).array, direct_dicom(d/'ct')
        assert np.array_equal(a, b.astype(np.float32))
        cases = [('NIfTI 256^3 int16 .nii.gz (RAS)', lambda: load_volume(d/'ras.nii.gz'), lambda: direct_nifti(d/'ras.nii.gz'), True),
                 ('NIfTI 256^3 int16 .nii (RAS, memory map)', lambda: load_volume(d/'ras.nii'), lambda: direct_nifti(d/'ras.nii'), False),
                 ('DICOM 200 x 512^2 series', lambda: load_volume(d/'ct'), lambda: direct_dicom(d/'ct'), True),
                 ('NIfTI 256^3 int16 .nii.gz (LPS: medlab reorients)', lambda: load_volume(d/'lps.nii.gz'), lambda: direct_nifti(d/'lps.nii.gz'), False)]
        rows = []
        for name, mine, direct, target in cases:
            tm, td = timed((mine, direct), args.repeats)
            rows.append((name, statistics.median(tm), statistics.median(td), min(tm) / min(td), target))
            print(f"{name:52s}: medlab {statistics.median(tm) * 1e3:8.1f} ms, direct {statistics.median(td) * 1e3:8.1f} ms  "
                  f"(medlab runs {', '.join(f'{t * 1e3:.0f}' for t in tm)}; direct {', '.join(f'{t * 1e3:.0f}' for t in td)})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print('\nRATIOS (one run): medlab load_volume / direct read, median (fastest runs)')
    for name, tm, td, rmin, target in rows:
        print(f"  {name:52s}: {tm / td:5.2f}x ({rmin:5.2f}x)" + ('   target <= 1.2' if target else '   (no target: ' + ('lazy memory map, the fixed cost of the header and affine' if 'memory map' in name else 'reorientation') + ')'))
