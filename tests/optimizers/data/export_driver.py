#!/usr/bin/env python3
"""Runs modules written by `nos export --to pytorch` on the cases export_test.cpp lists (one process for all).

Usage: export_driver.py CASES OUT

CASES holds blocks of lines (numbers as C's %a hex floats, which float.fromhex reads, inf and nan included):
  case MODULE_PATH CLASS MODE STEPS SPLIT KWARGS_JSON
  w0 X...                    the parameters' start, concatenated; SPLIT (e.g. 4,2) cuts it into tensors
  g X...                     MODE fixed: one line per step, the gradient (concatenated)
  end
MODE quadratic computes each step's gradient from w instead: g_i = c_i (w_i - target_i) + 0.5 sin(0.7 k + i),
k = 1.., as tests/optimizers/golden_torch_test.cpp does. Each case runs in float64; halfway through, the optimizer's
state_dict goes through torch.save/torch.load into a fresh instance, which runs the rest (the round trip).
OUT gets per case: "case MODULE_PATH", then "step K X..." (w after step K, float.hex) or one "error MESSAGE".
"""
import importlib.util
import io
import json
import math
import sys

import torch

C = [1.0, 0.5, 2.0, 0.1, 4.0, 1.0]
TARGET = [1.0, -2.0, 0.5, 3.0, -1.0, 0.25]


def load(path, index):
    spec = importlib.util.spec_from_file_location("nos_exported_%d" % index, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_cases(path):
    cases, case = [], None
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0] == "case":
                case = dict(path=words[1], cls=words[2], mode=words[3], steps=int(words[4]),
                            split=[int(x) for x in words[5].split(",")], kwargs=json.loads(" ".join(words[6:])),
                            grads=[])
            elif words[0] == "w0":
                case["w0"] = [float.fromhex(x) for x in words[1:]]
            elif words[0] == "g":
                case["grads"].append([float.fromhex(x) for x in words[1:]])
            elif words[0] == "end":
                cases.append(case)
    return cases


def flat(params):
    return [x for p in params for x in p.detach().reshape(-1).tolist()]


def set_grads(params, values):
    at = 0
    for p in params:
        n = p.numel()
        p.grad = torch.tensor(values[at:at + n], dtype=torch.float64).view(p.shape)
        at += n


def run(case, index):
    cls = getattr(load(case["path"], index), case["cls"])
    params, at = [], 0
    for n in case["split"]:
        params.append(torch.nn.Parameter(torch.tensor(case["w0"][at:at + n], dtype=torch.float64)))
        at += n
    opt = cls(params, **case["kwargs"])
    lines = []
    for k in range(1, case["steps"] + 1):
        if k == case["steps"] // 2 + 1:
            buffer = io.BytesIO()
            torch.save(opt.state_dict(), buffer)
            buffer.seek(0)
            opt = cls(params, **case["kwargs"])
            opt.load_state_dict(torch.load(buffer))
        if case["mode"] == "quadratic":
            w = flat(params)
            grad = [C[i] * (w[i] - TARGET[i]) + 0.5 * math.sin(0.7 * k + i) for i in range(len(w))]
        else:
            grad = case["grads"][k - 1]
        set_grads(params, grad)
        opt.step()
        lines.append("step %d %s" % (k, " ".join(float.hex(x) for x in flat(params))))
    return lines


def main():
    cases = read_cases(sys.argv[1])
    with open(sys.argv[2], "w") as out:
        for index, case in enumerate(cases):
            out.write("case %s\n" % case["path"])
            try:
                lines = run(case, index)
            except Exception as e:  # reported per case, so one bad module does not hide the others
                lines = ["error %s: %s" % (type(e).__name__, str(e).replace("\n", " "))]
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
