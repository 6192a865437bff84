"""Export the zoo (zoo_models.py) three ways each, with trained-looking weights,
and record torch's truth beside each model.

    make_zoo.py OUTDIR [STAMP]

For every model and export (opset14: opset 14, no constant folding;
opset14_folded; opset17_folded) writes NAME.EXPORT.onnx and NAME.truth.npz:
every named_parameter as p/NAME (frozen ones, requires_grad False, as b/NAME)
and every float buffer as b/NAME (BatchNorm
running stats as s/NAME), the values the export started from; a weight a
reparametrization computes (weight norm, spectral norm, pruning) as c/NAME,
since a folded export stores it (folded by other arithmetic: equal to rounding)."""
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_models import TRAINING, ZOO  # noqa: E402
import signal_nets  # noqa: E402

EXPORTS = {
    "opset14": dict(opset_version=14, do_constant_folding=False),
    "opset14_folded": dict(opset_version=14, do_constant_folding=True),
    "opset17_folded": dict(opset_version=17, do_constant_folding=True),
}


def trained_looking(model, seed):
    """Move every parameter off its init: no value a fresh init could give back."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:   # frozen by design (a fixed basis) stays what it is
                p.add_(0.05 * torch.randn(p.shape, generator=g) + 0.01)
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.add_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.mul_(1.5)


def truth(model):
    out = {}
    params = dict(model.named_parameters())
    for n, p in params.items():   # frozen parameters are fixed by design: buffers
        out[("p/" if p.requires_grad else "b/") + n] = p.detach().numpy().copy()
    buffers = [b for _, b in model.named_buffers()]
    for n, m in model.named_modules():   # a weight computed by a reparametrization hook
        w, key = getattr(m, "weight", None), (n + "." if n else "") + "weight"
        if isinstance(w, torch.Tensor) and key not in params and not any(w is b for b in buffers):
            out["c/" + key] = w.detach().numpy().copy()   # (weight / spectral norm, pruning)
    for n, b in model.named_buffers():
        if not b.is_floating_point():
            continue
        stat = n.endswith("running_mean") or n.endswith("running_var")
        out[("s/" if stat else "b/") + n] = b.detach().numpy().copy()
    return out


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    warnings.filterwarnings("ignore")
    for i, (name, make) in enumerate(sorted(ZOO.items())):
        torch.manual_seed(i)
        model, example = make()
        trained_looking(model, 100 + i)
        model.eval()
        args = example if isinstance(example, tuple) else (example,)
        with torch.no_grad():
            model(*args)   # hooks compute the effective weights a folded export holds
        np.savez(os.path.join(out, name + ".truth.npz"), **truth(model))
        for export, kw in EXPORTS.items():
            path = os.path.join(out, "%s.%s.onnx" % (name, export))
            if name in TRAINING:
                kw = dict(kw, training=torch.onnx.TrainingMode.TRAINING)
            torch.onnx.export(model, args, path, **kw)
    # beside the scored zoo: a deep CNN with BatchNorm, eval export (BN folded) and training export
    extra = os.path.join(out, "extra")
    os.makedirs(extra, exist_ok=True)
    layers = []
    for i in range(10):
        layers += [torch.nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                   torch.nn.ReLU()]
    cnn = torch.nn.Sequential(*layers)
    trained_looking(cnn, 7)
    x = torch.randn(1, 3, 16, 16)
    cnn.eval()
    torch.onnx.export(cnn, (x,), os.path.join(extra, "cnn_bn_folded.onnx"), opset_version=14,
                      do_constant_folding=True)
    torch.onnx.export(cnn, (x,), os.path.join(extra, "cnn_bn_training.onnx"), opset_version=14,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    # torchvision nets for the signal test, eval and training exports
    signal_nets.make(os.path.join(out, "signal"))
    stamp = sys.argv[2] if len(sys.argv) > 2 else os.path.join(out, "zoo.stamp")
    with open(stamp, "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
