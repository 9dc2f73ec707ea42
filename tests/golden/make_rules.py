#!/usr/bin/env python3
"""Writes tests/golden/rules.txt: the fixed corpus of fuzz-generated rules the golden test pins.

1,000 distinct rules but for the malformed ones. Run once; the committed rules.txt is the corpus (this script is kept so it can be read and extended, not rerun).
Each line is `infix TEXT` or `tokens TEXT`; about one rule in twenty is deliberately malformed so the corpus pins
diagnostics too.
"""
import random
import sys

OPERANDS = ["g", "g2", "g3", "m", "v", "y", "noise", "anoise", "w", "adam", "rmsprop", "ld", "cd", "rd",
            "m(0.5)", "m(0.99)", "v(0.9)", "y(0.99)", "cd(2)", "rd(3)", "1", "2", "0.5", "1e-3", "-1", "0"]
UNARY = ["-", "exp", "log", "sqrt", "sign", "clip", "drop"]
BINARY = ["+", "-", "*", "/", "^", "keep"]
TOK_OPERANDS = ["g", "g2", "g3", "m", "v", "y", "noise", "anoise", "w", "adam", "rmsprop", "ld", "cd", "rd",
                "1", "2"]
TOK_UNARY = ["id", "neg", "exp", "log", "sqrt", "sign", "clip(1e-5)", "clip(1e-3)", "drop(0.1)", "drop(0.3)"]
TOK_BINARY = ["add", "sub", "mul", "div", "pow", "keep"]
JUNK = ["expp(g)", "g +", "m(2)", "clip(g)", "drop(g, 1)", "sign(", "g ** m", "u0 g exp", "1e", "cd(0)",
        "q", "exp(g", "keep(g)", "g^^m", "sqrt(g,)"]


def expr(rng, depth):
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(OPERANDS)
    if rng.random() < 0.4:
        f = rng.choice(UNARY)
        x = expr(rng, depth - 1)
        if f == "-":
            return "-(" + x + ")"
        if f == "clip":
            return "clip(%s, %s)" % (x, rng.choice(["1e-5", "1e-4", "1e-3", "0.1"]))
        if f == "drop":
            return "drop(%s, %s)" % (x, rng.choice(["0.1", "0.3", "0.5"]))
        return "%s(%s)" % (f, x)
    op = rng.choice(BINARY)
    a, b = expr(rng, depth - 1), expr(rng, depth - 1)
    if op == "keep":
        return "keep(%s, %s)" % (a, b)
    return "(%s)%s(%s)" % (a, op, b) if rng.random() < 0.5 else "%s %s %s" % (a, op, b)


def tokens(rng):
    units = []
    for u in range(rng.randint(1, 3)):
        def operand():
            if u > 0 and rng.random() < 0.4:
                return "u%d" % rng.randrange(u)
            return rng.choice(TOK_OPERANDS)
        units.append(" ".join([operand(), operand(), rng.choice(TOK_UNARY), rng.choice(TOK_UNARY),
                               rng.choice(TOK_BINARY)]))
    return " | ".join(units)


def main():
    rng = random.Random(20261130)
    lines, seen = [], set()
    while len(lines) < 1000:
        r = rng.random()
        if r < 0.05:
            line = "infix " + rng.choice(JUNK)
        elif r < 0.25:
            line = "tokens " + tokens(rng)
        else:
            line = "infix " + expr(rng, rng.randint(1, 4))
        if line not in seen or r < 0.05:
            seen.add(line)
            lines.append(line)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
