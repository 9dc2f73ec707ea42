#!/usr/bin/env python3
"""Writes torch_optim_golden.txt: trajectories of torch.optim's optimizers that nos's named rules must follow.

Run from the repository root with Debian's python3-torch (no network):

    /usr/bin/python3 tests/optimizers/data/make_torch_optim_golden.py > tests/optimizers/data/torch_optim_golden.txt

Each run optimizes six parameters on a fixed noisy quadratic for STEPS steps, in float64 and in float32:
    g_i = c_i * (w_i - target_i) + 0.5 * sin(0.7 * k + i)     (k = 1..STEPS, computed in float64, cast to the dtype)
tests/optimizers/golden_torch_test.cpp computes the same gradients and compares every step.

NAdam: Debian's torch 1.13 multiplies mu_t into its second momentum product twice (mu_product * mu * mu_next);
PyTorch 2.0 fixed that (pytorch/pytorch#92699) and nos follows PyTorch 2, so the NAdam rows come from
_single_tensor_nadam below, torch 1.13's function with that one line as PyTorch 2 has it.
"""
import math
import sys

import torch

STEPS = 120
C = [1.0, 0.5, 2.0, 0.1, 4.0, 1.0]
TARGET = [1.0, -2.0, 0.5, 3.0, -1.0, 0.25]
START = [0.0, 0.3, -0.4, 0.0, 0.2, -1.0]


def gradient(w, k, dtype):
    values = [C[i] * (float(w[i]) - TARGET[i]) + 0.5 * math.sin(0.7 * k + i) for i in range(len(C))]
    return torch.tensor(values, dtype=torch.float64).to(dtype)


def nadam_pytorch2(params, lr, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3):
    """torch.optim.NAdam's update as PyTorch 2 computes it (single tensor, no weight decay)."""
    beta1, beta2 = betas
    state = {"step": 0, "mu_product": 1.0}
    p = params[0]
    exp_avg = torch.zeros_like(p)
    exp_avg_sq = torch.zeros_like(p)

    def step():
        state["step"] += 1
        step = state["step"]
        grad = p.grad
        bias_correction2 = 1 - beta2 ** step
        mu = beta1 * (1. - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1. - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        state["mu_product"] *= mu
        mu_product_next = state["mu_product"] * mu_next  # PyTorch 2 (1.13: mu_product * mu * mu_next)
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt().add_(eps)
        with torch.no_grad():
            p.addcdiv_(grad, denom, value=-lr * (1. - mu) / (1. - state["mu_product"]))
            p.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1. - mu_product_next))

    return step


# name in nos, how to build the torch optimizer, the nos options the test sets (lr; decoupled weight decay is adamw's).
RUNS = [
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.01)),
    ("nesterov", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True)),
    ("amsgrad", lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True)),
    ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ("nadam", None),
    ("radam", lambda p: torch.optim.RAdam(p, lr=0.01)),
]
LR = {"adamw": 0.01, "nesterov": 0.01, "amsgrad": 0.01, "adagrad": 0.1, "nadam": 0.01, "radam": 0.01}


def main():
    out = sys.stdout
    out.write("# torch.optim trajectories for tests/optimizers/golden_torch_test.cpp (torch %s)\n" % torch.__version__)
    out.write("# made by: /usr/bin/python3 tests/optimizers/data/make_torch_optim_golden.py\n")
    out.write("# name dtype lr step w0 .. w5 (w after the step)\n")
    for name, make in RUNS:
        for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
            w = torch.tensor(START, dtype=torch.float64).to(dtype).requires_grad_(True)
            if make is None:
                step = nadam_pytorch2([w], lr=LR[name])
            else:
                opt = make([w])
                step = opt.step
            for k in range(1, STEPS + 1):
                w.grad = gradient(w.detach(), k, dtype)
                step()
                values = " ".join(repr(float(x)) for x in w.detach())
                out.write("%s %s %r %d %s\n" % (name, label, LR[name], k, values))


if __name__ == "__main__":
    main()
