#!/usr/bin/python3
"""Golden values of learning-rate schedules for tests/tasks/schedule_test.cpp (issue 19).

    /usr/bin/python3 tests/tasks/data/make_schedule_golden.py > tests/tasks/data/schedule_golden.txt

PyTorch's torch.optim.lr_scheduler (Debian's python3-torch) with lr 1, read before each optimizer step; the two
schedules of Bello et al. from TensorFlow's formulas (tensorflow/python/keras/optimizer_v2/legacy_learning_rate_decay
.py, linear_cosine_decay), written out here. One line per case: the nos --schedule text, the run's steps, the steps
per epoch, then the factor of every step.
"""
import math

import torch


def torch_factors(make, steps, per_epoch=1):
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = make(opt)
    out = []
    for t in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if (t + 1) % per_epoch == 0:
            sched.step()
    return out


def linear_cosine(steps, num_periods=0.5, alpha=0.0, beta=0.001):
    out = []
    for t in range(steps):
        step = min(t, steps)
        linear = (steps - step) / steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * 2.0 * num_periods * step / steps))
        out.append((alpha + linear) * cosine + beta)
    return out


S = torch.optim.lr_scheduler
CASES = [
    ("constant", 10, 1, lambda: [1.0] * 10),
    ("step,step_size=7,gamma=0.5", 40, 1, lambda: torch_factors(lambda o: S.StepLR(o, 7, 0.5), 40)),
    ("step,step_size=2,per_epoch=true", 30, 5, lambda: torch_factors(lambda o: S.StepLR(o, 2, 0.1), 30, 5)),
    ("exponential,gamma=0.95", 40, 1, lambda: torch_factors(lambda o: S.ExponentialLR(o, 0.95), 40)),
    ("cosine,eta_min=0.1", 40, 1, lambda: torch_factors(lambda o: S.CosineAnnealingLR(o, 40, eta_min=0.1), 40)),
    ("cosine,t0=5,t_mult=2,eta_min=0.05", 60, 1,
     lambda: torch_factors(lambda o: S.CosineAnnealingWarmRestarts(o, 5, 2, eta_min=0.05), 60)),
    ("cosine,t0=8", 30, 1, lambda: torch_factors(lambda o: S.CosineAnnealingWarmRestarts(o, 8, 1), 30)),
    ("cosine,warmup=8,warmup_start=0.1", 40, 1,
     lambda: torch_factors(lambda o: S.ChainedScheduler([S.LinearLR(o, 0.1, 1.0, 8), S.CosineAnnealingLR(o, 40)]),
                           40)),
    ("step,warmup=4,warmup_start=0.25,step_size=10,gamma=0.3", 30, 1,
     lambda: torch_factors(lambda o: S.ChainedScheduler([S.LinearLR(o, 0.25, 1.0, 4), S.StepLR(o, 10, 0.3)]), 30)),
    ("constant,warmup=0.25,warmup_start=0.5", 20, 1, lambda: torch_factors(lambda o: S.LinearLR(o, 0.5, 1.0, 5), 20)),
    ("linear_cosine", 50, 1, lambda: linear_cosine(50)),
    ("linear_cosine,num_periods=2,alpha=0.1,beta=0.01", 50, 1, lambda: linear_cosine(50, 2, 0.1, 0.01)),
]

print("# made by tests/tasks/data/make_schedule_golden.py with torch " + torch.__version__)
for text, steps, per_epoch, make in CASES:
    print(text, steps, per_epoch, " ".join(repr(x) for x in make()))
