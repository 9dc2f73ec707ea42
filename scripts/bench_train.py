#!/usr/bin/env python3
"""The Python side of `nos bench train`: nos's models and training step in plain PyTorch, timed.

The same models as tasks/models.cpp (same layers, padding and pooling; the initialisation does not change the
speed), Adam, and the same per-step work as nos's loop: gather uint8 rows, normalise per channel, forward,
cross-entropy, backward, step, the loss summed on the device. Timed after a warm-up. Prints key=value lines,
which bench/python_runner.cpp reads; nos compiles this file in, so the two cannot drift apart.

  bench_train.py --list-models      the model names it knows, one a line (the rows of nos's model registry)
  bench_train.py MODEL C H W CLASSES BATCH STEPS WARMUP THREADS N_TRAIN LR LAYOUT

LAYOUT is channels_last or contiguous. Without PyTorch it prints import_error=...; for a model it does not know,
unsupported_model=NAME (exit status 0 both: nos reports them).
"""
import re
import sys
import time


def cdiv(a, b):
    return -(-a // b)


def convnet(nn, C, H, W, classes):
    return nn.Sequential(
        nn.Conv2d(C, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (H // 4) * (W // 4), classes))


def two_c2d(nn, C, H, W, classes):
    return nn.Sequential(
        nn.Conv2d(C, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(), nn.Linear(64 * cdiv(cdiv(H, 2), 2) * cdiv(cdiv(W, 2), 2), 1024), nn.ReLU(inplace=True),
        nn.Linear(1024, classes))


def three_c3d(nn, C, H, W, classes):
    def side(s):
        return cdiv(cdiv(cdiv(s - 4, 2) - 2, 2), 2)
    return nn.Sequential(
        nn.Conv2d(C, 64, 5), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(64, 96, 3), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(96, 128, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(128 * side(H) * side(W), 512), nn.ReLU(inplace=True),
        nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Linear(256, classes))


def mlp(nn, C, H, W, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 1000), nn.ReLU(inplace=True),
                         nn.Linear(1000, 500), nn.ReLU(inplace=True), nn.Linear(500, 100), nn.ReLU(inplace=True),
                         nn.Linear(100, classes))


def mlp20(nn, C, H, W, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 20), nn.Sigmoid(), nn.Linear(20, classes))


def logreg(nn, C, H, W, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, classes))


def wide_resnet(nn, C, H, W, classes, depth, widen):
    # Pre-activation basic blocks; a 1x1 convolution of the pre-activated input as the shortcut where width or
    # stride change (WideBlockImpl in tasks/models.cpp).
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.shortcut = (nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
                             if cin != cout or stride != 1 else None)

        def forward(self, x):
            pre = self.bn1(x).relu()
            out = self.conv2(self.bn2(self.conv1(pre)).relu_())
            return out + (self.shortcut(pre) if self.shortcut is not None else x)

    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    layers = [nn.Conv2d(C, 16, 3, padding=1, bias=False)]
    for g, stride in enumerate([1, 2, 2]):
        for b in range((depth - 4) // 6):
            layers.append(Block(widths[g] if b == 0 else widths[g + 1], widths[g + 1], stride if b == 0 else 1))
    layers += [nn.BatchNorm2d(widths[3]), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(widths[3], classes)]
    return nn.Sequential(*layers)


# The model names, as nos's model registry (tasks/models.cpp) writes them; wrn-D-K is a family.
MODELS = {"convnet": convnet, "2c2d": two_c2d, "3c3d": three_c3d, "mlp": mlp, "mlp20": mlp20, "logreg": logreg,
          "wrn-D-K": wide_resnet}


def model_for(nn, name, C, H, W, classes):
    if name in MODELS and name != "wrn-D-K":
        return MODELS[name](nn, C, H, W, classes)
    wrn = re.fullmatch(r"wrn-(\d+)-(\d+)", name)
    if wrn:
        return wide_resnet(nn, C, H, W, classes, int(wrn.group(1)), int(wrn.group(2)))
    return None


def run(argv):
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except Exception as e:
        print("import_error=%s" % (e,))
        return
    name = argv[0]
    C, H, W, classes, batch, steps, warmup, threads, n_train = (int(a) for a in argv[1:10])
    lr = float(argv[10])
    channels_last = argv[11] == "channels_last"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = model_for(nn, name, C, H, W, classes)
    if model is None:
        print("unsupported_model=%s" % name)
        return
    if name == "3c3d":
        # DeepOBS cifar10_3c3d: L2 0.002 on the weights, not the biases (coupled, as nos's trainer adds it).
        decayed = [p for n, p in model.named_parameters() if n.endswith("weight")]
        rest = [p for n, p in model.named_parameters() if not n.endswith("weight")]
        opt = torch.optim.Adam([{"params": decayed, "weight_decay": 0.002}, {"params": rest}], lr=lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train, C, H, W), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, classes, (n_train,), generator=g)
    pixels = images.transpose(0, 1).reshape(C, -1).double() / 255
    mean, std = pixels.mean(1).tolist(), pixels.std(1, unbiased=False).tolist()
    per_epoch = max(1, n_train // batch)
    loss_sum = torch.zeros((), dtype=torch.float64)

    def step(index):
        x = images.index_select(0, index).to(torch.float32)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for c in range(C):
            x.select(1, c).mul_(1.0 / (255.0 * std[c])).sub_(mean[c] / std[c])
        loss = F.cross_entropy(model(x), labels.index_select(0, index))
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum.add_(loss.detach())

    start = time.perf_counter()
    cpu_start = time.process_time()
    for i in range(warmup + steps):
        if i == warmup:
            loss_sum.item()
            start = time.perf_counter()
            cpu_start = time.process_time()
        if i % per_epoch == 0:
            order = torch.randperm(n_train, generator=g)
        step(order[(i % per_epoch) * batch:(i % per_epoch + 1) * batch])
    loss_sum.item()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    print("torch_version=%s" % torch.__version__)
    print("threads=%d" % torch.get_num_threads())
    print("seconds=%r" % seconds)
    print("cpu_seconds=%r" % cpu_seconds)
    print("samples_per_second=%r" % (steps * batch / seconds))


def main(argv):
    if argv == ["--list-models"]:
        for name in MODELS:
            print(name)
        return 0
    if len(argv) != 12:
        sys.stderr.write(__doc__)
        return 2
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
