"""torchvision nets for the signal test (tests/cli/test_signal.py), exported once
when the zoo is made:

    signal/NAME.onnx         the default export: eval mode, BatchNorm folded (opset 13)
    signal/NAME-train.onnx   training mode, BatchNorm kept (opset 14), for TRAIN_NETS
    signal/fresh.json        NAME -> output std of a freshly built torch model in
                             training mode (what training sees at step 0), mean over SEEDS

Each net is built with torch.manual_seed(0) and run in training mode on N(0, 1)
batches first, so its running statistics are no longer 0/1."""
import json
import os

import numpy as np
import torch
import torchvision

NETS = ["resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "vgg11_bn", "densenet121",
        "regnet_y_400mf",
        # beyond the first list: no normalization by design, channel shuffles and splits,
        # inverted residuals found by search
        "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5"]
TRAIN_NETS = ["resnet18", "mobilenet_v2", "regnet_y_400mf"]
SEEDS = (1, 2)


def fresh_std(name):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)().train()
    stds = []
    with torch.no_grad():
        for s in SEEDS:
            torch.manual_seed(100 + s)
            stds.append(m(torch.randn(2, 3, 224, 224)).std().item())
    return float(np.mean(stds)), m


def make(d):
    os.makedirs(d, exist_ok=True)
    fresh = {}
    for name in NETS:
        fresh[name], m = fresh_std(name)
        torch.onnx.export(m.eval(), torch.randn(1, 3, 224, 224), os.path.join(d, name + ".onnx"),
                          opset_version=13)
        if name in TRAIN_NETS:
            _, m = fresh_std(name)
            torch.onnx.export(m.train(), torch.randn(2, 3, 224, 224),
                              os.path.join(d, name + "-train.onnx"), opset_version=14,
                              training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    with open(os.path.join(d, "fresh.json"), "w") as f:
        json.dump(fresh, f, indent=1, sort_keys=True)
