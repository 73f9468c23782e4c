"""medlab's MONAI / scikit-image options against the peers themselves: the same numbers, to the peers' tolerances.

Every option that issue 18 adds (or that medlab already shares with a peer) is computed by medlab and by the peer on
small inputs in float64, and the two values are printed side by side with their difference. The process exits with
status 1 when any pair differs by more than the tolerance (1e-6 relative / 1e-8 absolute for MONAI's losses and
distances, which is tighter than MONAI's own tests at 1e-4 / 1e-5; 1e-12 for scikit-image, where medlab runs the same
scipy filters). Where medlab's default or convention differs from the peer's (class weights normalised, chamfer
metrics in mm), the case states the conversion it applies; the notebooks' tables say why medlab differs.

Peers are not medlab dependencies, so this runs in the benchmark environment:
    PYTHONPATH=. .venv-bench/bin/python bench/peers.py
"""
import math
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from medlab.losses import dice_ce_loss, dice_loss
from medlab.metrics import assd, hd95, nrmse, ssim, surface_dice

warnings.filterwarnings('ignore')
torch.set_num_threads(1)
ROWS, FAILED = [], []


def check(case, ours, theirs, rtol=1e-6, atol=1e-8):
    "Record one comparison; NaN equals NaN and inf equals inf."
    ours, theirs = float(ours), float(theirs)
    same_special = (math.isnan(ours) and math.isnan(theirs)) or (math.isinf(ours) and ours == theirs)
    diff = 0.0 if same_special else abs(ours - theirs)
    ok = same_special or diff <= atol + rtol * abs(theirs)
    ROWS.append((case, ours, theirs, diff, ok))
    if not ok: FAILED.append(case)


def onehot(lab, C): return F.one_hot(lab[:, 0], C).movedim(-1, 1).double()


def losses():
    from monai.losses import DiceCELoss, DiceLoss
    g = torch.Generator().manual_seed(0)
    x3 = torch.randn(2, 3, 6, 7, 5, generator=g, dtype=torch.float64)
    lab = torch.randint(0, 3, (2, 1, 6, 7, 5), generator=g)
    x1 = torch.randn(2, 1, 9, 8, generator=g, dtype=torch.float64)
    b1 = (torch.rand(2, 1, 9, 8, generator=g) > 0.5).double()
    soft = torch.rand(2, 3, 6, 7, 5, generator=g, dtype=torch.float64)
    # DiceLoss: every combination of the boolean options, softmax over 3 channels (labels) and one sigmoid channel
    for sq in (False, True):
        for jac in (False, True):
            for bat in (False, True):
                for ib in (True, False):
                    kw = dict(squared_pred=sq, jaccard=jac, batch=bat, include_background=ib)
                    tag = ' '.join(k for k, v in kw.items() if v) or 'defaults'
                    m = DiceLoss(softmax=True, to_onehot_y=True, **kw)(x3, lab)
                    check(f"DiceLoss softmax C=3, {tag}", dice_loss(x3, lab, **kw), m)
                    m = DiceLoss(sigmoid=True, **kw)(x1, b1)
                    check(f"DiceLoss sigmoid C=1, {tag}", dice_loss(x1, b1, **kw), m)
    for kw in (dict(smooth_nr=0.0, smooth_dr=1e-5), dict(smooth_nr=0.5, smooth_dr=2.0), dict(smooth_nr=1.0, smooth_dr=1.0)):
        m = DiceLoss(softmax=True, to_onehot_y=True, **kw)(x3, lab)
        check(f"DiceLoss {kw}", dice_loss(x3, lab, **kw), m)
    empty = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    check("DiceLoss smooth_nr=0 on two empty masks", dice_loss(empty, empty, logits=False, smooth_nr=0),
          DiceLoss(smooth_nr=0)(empty, empty))
    for jac in (False, True):   # soft labels: probabilities against soft targets
        p = torch.softmax(x3, 1)
        t = soft / soft.sum(1, keepdim=True)
        check(f"DiceLoss soft_label jaccard={jac}", dice_loss(p, t, logits=False, soft_label=True, jaccard=jac),
              DiceLoss(soft_label=True, jaccard=jac)(p, t))
        check(f"DiceLoss soft_label=False on soft targets, jaccard={jac}", dice_loss(p, t, logits=False, jaccard=jac),
              DiceLoss(jaccard=jac)(p, t))
    for name, act in (('tanh', torch.tanh), ('softmax(2x)', lambda v: torch.softmax(2 * v, 1))):
        check(f"DiceLoss other_act={name}", dice_loss(x3, lab, other_act=act), DiceLoss(other_act=act, to_onehot_y=True)(x3, lab))
    check("DiceLoss multilabel = sigmoid per channel", dice_loss(x3, onehot(lab, 3), multilabel=True),
          DiceLoss(sigmoid=True)(x3, onehot(lab, 3)))
    w = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)     # sums to C = 3: medlab's weighted mean = MONAI's mean(w * loss)
    check("DiceLoss weight (sum C)", dice_loss(x3, lab, weights=w), DiceLoss(softmax=True, to_onehot_y=True, weight=w)(x3, lab))
    w2 = torch.tensor([9.0, 0.5, 1.5], dtype=torch.float64)    # include_background=False: the last C-1 sum to C-1
    check("DiceLoss weight, include_background=False", dice_loss(x3, lab, weights=w2, include_background=False),
          DiceLoss(softmax=True, to_onehot_y=True, weight=w2[1:], include_background=False)(x3, lab))
    w3 = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)    # any weights: medlab x sum(w) / C = MONAI
    check("DiceLoss weight (any), rescaled by sum(w)/C", dice_loss(x3, lab, weights=w3) * w3.sum() / 3,
          DiceLoss(softmax=True, to_onehot_y=True, weight=w3)(x3, lab))
    # DiceCELoss: CE on the logits, Dice on the activation
    for kw in (dict(), dict(lambda_dice=0.3, lambda_ce=1.7), dict(lambda_dice=0.0), dict(lambda_ce=0.0),
               dict(jaccard=True, squared_pred=True), dict(batch=True, include_background=False), dict(smooth_nr=0.0)):
        check(f"DiceCELoss softmax {kw or 'defaults'}", dice_ce_loss(x3, lab, **kw), DiceCELoss(softmax=True, to_onehot_y=True, **kw)(x3, lab))
    check("DiceCELoss weight (sum C), label target", dice_ce_loss(x3, lab, weights=w),
          DiceCELoss(softmax=True, to_onehot_y=True, weight=w)(x3, lab))
    act = lambda v: torch.softmax(3 * v, 1)
    check("DiceCELoss other_act (Dice only; CE on logits)", dice_ce_loss(x3, lab, other_act=act),
          DiceCELoss(other_act=act, to_onehot_y=True)(x3, lab))
    check("DiceCELoss sigmoid C=1 (BCE on logits)", dice_ce_loss(x1, b1), DiceCELoss(sigmoid=True)(x1, b1))
    check("DiceCELoss one-hot target, no weight", dice_ce_loss(x3, onehot(lab, 3)), DiceCELoss(softmax=True)(x3, onehot(lab, 3)))


def distances():
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice
    shape, sp = (24, 40, 36), (2.0, 0.8, 0.9)
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, sp)]
    z, y, x = np.meshgrid(*axes, indexing='ij')
    ref = z ** 2 + y ** 2 + x ** 2 <= 11 ** 2
    pred = ((z - 2) / 13) ** 2 + ((y + 1.5) / 9) ** 2 + (x / 12) ** 2 <= 1
    T = lambda *ms: torch.from_numpy(np.stack(ms))[None].double()       # (1, C, *spatial)
    P, R = T(pred), T(ref)
    for pc in (95, 50, 100):
        m = compute_hausdorff_distance(P, R, percentile=None if pc == 100 else pc, spacing=sp)
        check(f"hausdorff euclidean percentile={pc}, spacing {sp}", hd95(pred, ref, sp, percentile=pc), m)
    check(f"assd euclidean, spacing {sp}", assd(pred, ref, sp), compute_average_surface_distance(P, R, symmetric=True, spacing=sp))
    for metric in ('chessboard', 'taxicab'):   # MONAI ignores spacing for these: compare at 1 voxel, and scaled at 1.5 mm
        m = compute_hausdorff_distance(P, R, percentile=95, distance_metric=metric)
        check(f"hausdorff {metric}, 1 mm", hd95(pred, ref, 1.0, distance_metric=metric), m)
        check(f"hausdorff {metric}, 1.5 mm = MONAI x 1.5", hd95(pred, ref, 1.5, distance_metric=metric), 1.5 * float(m))
        m = compute_average_surface_distance(P, R, symmetric=True, distance_metric=metric)
        check(f"assd {metric}, 1 mm", assd(pred, ref, 1.0, distance_metric=metric), m)
        m = compute_surface_dice(P, R, class_thresholds=[2.0], include_background=True, distance_metric=metric)
        check(f"surface dice {metric}, tol 2", surface_dice(pred, ref, 2.0, 1.0, distance_metric=metric), m)
    inner = z ** 2 + y ** 2 + x ** 2 <= 7 ** 2
    tols = [1.0, 2.5, 4.0]
    m = compute_surface_dice(T(pred, inner, pred), T(ref, ref, inner), class_thresholds=tols, include_background=True, spacing=sp)
    ours = surface_dice(np.stack([pred, inner, pred]), np.stack([ref, ref, inner]), tols, sp)
    for c in range(3): check(f"surface dice class {c}, tolerance {tols[c]} mm (class_thresholds)", ours[f'class_{c}'], m[0, c])
    e = np.zeros(shape, bool)
    check("hausdorff, both empty, empty='nan'", hd95(e, e, sp, empty='nan'), compute_hausdorff_distance(T(e), T(e), spacing=sp))
    check("assd, both empty, empty='nan'", assd(e, e, sp, empty='nan'), compute_average_surface_distance(T(e), T(e), spacing=sp))
    check("surface dice, both empty, empty='nan'", surface_dice(e, e, 1.0, sp, empty='nan'),
          compute_surface_dice(T(e), T(e), class_thresholds=[1.0], include_background=True, spacing=sp))
    check("hausdorff, empty prediction", hd95(e, ref, sp, empty='nan'), compute_hausdorff_distance(T(e), R, spacing=sp))
    check("surface dice, empty prediction", surface_dice(e, ref, 1.0, sp, empty='nan'),
          compute_surface_dice(T(e), R, class_thresholds=[1.0], include_background=True, spacing=sp))


def image_quality():
    from skimage.data import shepp_logan_phantom
    from skimage.metrics import normalized_root_mse, structural_similarity
    rng = np.random.default_rng(0)
    img = shepp_logan_phantom()[::4, ::4]
    noisy = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    vol = rng.random((12, 16, 18)); vol_n = np.clip(vol + rng.normal(0, 0.1, vol.shape), 0, 1)
    rgb = np.stack([img, img.T, img[::-1]], -1); rgb_n = np.clip(rgb + rng.normal(0, 0.05, rgb.shape), 0, 1)
    tol = dict(rtol=0, atol=1e-12)
    check("ssim gaussian_weights=False (skimage default), 2-D", ssim(noisy, img, data_range=1.0, gaussian_weights=False),
          structural_similarity(img, noisy, data_range=1.0), **tol)
    check("ssim gaussian_weights=False, 3-D", ssim(vol_n, vol, data_range=1.0, gaussian_weights=False),
          structural_similarity(vol, vol_n, data_range=1.0), **tol)
    check("ssim win_size=5 use_sample_covariance=False", ssim(noisy, img, data_range=1.0, gaussian_weights=False, win_size=5,
          use_sample_covariance=False), structural_similarity(img, noisy, data_range=1.0, win_size=5, use_sample_covariance=False), **tol)
    check("ssim gaussian (medlab default)", ssim(noisy, img, data_range=1.0),
          structural_similarity(img, noisy, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False), **tol)
    check("ssim gaussian, use_sample_covariance=True", ssim(noisy, img, data_range=1.0, use_sample_covariance=True),
          structural_similarity(img, noisy, data_range=1.0, gaussian_weights=True, sigma=1.5), **tol)
    check("ssim channel_axis=-1, uniform", ssim(rgb_n, rgb, data_range=1.0, gaussian_weights=False, channel_axis=-1),
          structural_similarity(rgb, rgb_n, data_range=1.0, channel_axis=-1), **tol)
    _, ours = ssim(rgb_n, rgb, data_range=1.0, gaussian_weights=False, channel_axis=-1, full=True)
    _, theirs = structural_similarity(rgb, rgb_n, data_range=1.0, channel_axis=-1, full=True)
    check("ssim full=True map, max |difference|", float(np.abs(ours.numpy() - theirs).max()), 0.0, **tol)
    for n in ('euclidean', 'min-max', 'mean'):
        check(f"nrmse normalization={n!r}", nrmse(noisy, img, n), normalized_root_mse(img, noisy, normalization=n), **tol)


def main():
    import monai, skimage
    print(f"medlab against MONAI {monai.__version__} and scikit-image {skimage.__version__} (float64, CPU)\n")
    losses(); distances(); image_quality()
    w = max(len(r[0]) for r in ROWS)
    print(f"{'case':{w}s}  {'medlab':>14s}  {'peer':>14s}  {'|diff|':>9s}")
    for case, a, b, d, ok in ROWS:
        print(f"{case:{w}s}  {a:14.9g}  {b:14.9g}  {d:9.1e}  {'ok' if ok else 'DIFFERS'}")
    print(f"\n{len(ROWS) - len(FAILED)}/{len(ROWS)} agree" + (f"; differ: {FAILED}" if FAILED else ''))
    sys.exit(1 if FAILED else 0)


if __name__ == '__main__':
    main()
