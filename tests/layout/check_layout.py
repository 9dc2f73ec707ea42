#!/usr/bin/env python3
"""Checks the shape of the tree (run by ctest as `layout`; exit 1 with every violation listed).

1. The module line: common -> dsl -> optimizers -> tasks -> dispatch -> controller -> search -> experiments -> bench -> cli.
   A file of a module includes headers of its own module and of modules to its left only (tests/<module>/ follow
   their module's rule; tests/ helpers may be included by tests).
2. Each module folder opens with its public header <module>/<module>.h, whose first line says what it offers.
3. No function in any module is longer than 80 lines, unless it is one flat switch with a case per
   primitive (a switch over Prim with at least 20 `case Prim::` labels).
4. A child's status is tasks::Status: no module source compares or assigns a status as text (`status == "ok"`);
   the text lives in tasks/status.cpp and is written and read only where records leave the process.

Usage: check_layout.py ROOT
"""
import os
import re
import sys

LINE = ["common", "dsl", "optimizers", "tasks", "dispatch", "controller", "search", "experiments", "bench", "cli"]
SHORT = LINE
MAX_LINES = 80
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')


def sources(root, folder):
    base = os.path.join(root, folder)
    for dirpath, _, files in os.walk(base):
        for name in sorted(files):
            if name.endswith((".h", ".cpp")):
                yield os.path.join(dirpath, name)


def check_includes(root, problems):
    for rank, module in enumerate(LINE):
        for folder in (module, os.path.join("tests", module)):
            for path in sources(root, folder):
                with open(path, encoding="utf-8") as f:
                    for number, text in enumerate(f, 1):
                        m = INCLUDE.match(text)
                        if not m or m.group(1) == "tests":
                            continue
                        target = m.group(1)
                        if target in LINE and LINE.index(target) > rank:
                            problems.append("%s:%d: %s includes %s, which is right of it on the module line" %
                                            (os.path.relpath(path, root), number, module, target))


def check_headers(root, problems):
    for module in LINE:
        if not os.path.isdir(os.path.join(root, module)):
            problems.append("%s/: module folder missing" % module)
            continue
        header = os.path.join(root, module, module + ".h")
        if module == "cli":
            header = os.path.join(root, module, "cli.h")
        if not os.path.isfile(header):
            problems.append("%s: the module's opening header is missing" % os.path.relpath(header, root))
            continue
        with open(header, encoding="utf-8") as f:
            first = f.readline()
        if not first.startswith("//"):
            problems.append("%s:1: the opening header starts with a line saying what the module offers" %
                            os.path.relpath(header, root))


def strip(text):
    """The text with comments, strings and character literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


SIGNATURE = re.compile(r"\)\s*(const\s*)?(noexcept\s*)?(override\s*)?(->\s*[\w:<>,\s*&]+)?\s*$")
NOT_FUNCTION = re.compile(r"^\s*(if|for|while|switch|catch|return|else|do)\b|\bnamespace\b|=\s*\[|\]\s*\(")


def functions(text):
    """(name line, first line, last line, body) of each function definition at namespace or class level."""
    code = strip(text)
    lines = code.split("\n")
    depth_stack = []  # for each open brace: is it a function body?
    result = []
    start = None
    header = ""
    for number, line in enumerate(lines, 1):
        cut = 0  # where the text after the last brace or semicolon of this line starts
        for k, ch in enumerate(line):
            if ch in "{};":
                before = (header + " " + line[cut:k]).strip()
                cut = k + 1
            if ch == "{":
                inside_function = any(depth_stack)
                is_function = (not inside_function and SIGNATURE.search(before) is not None and
                               NOT_FUNCTION.search(before.split(";")[-1].split("}")[-1]) is None)
                depth_stack.append(is_function)
                if is_function:
                    start = number
                header = ""
            elif ch == "}":
                if depth_stack and depth_stack.pop() and not any(depth_stack) and start is not None:
                    result.append((start, number, "\n".join(lines[start - 1:number])))
                    start = None
                header = ""
            elif ch == ";" and not any(depth_stack):
                header = ""
        if not any(depth_stack):
            header = (header + " " + line[cut:])[-400:]
    return result


def check_lengths(root, problems):
    for module in SHORT:
        for path in sources(root, module):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for first, last, body in functions(text):
                length = last - first + 1
                if length <= MAX_LINES:
                    continue
                if len(re.findall(r"\bswitch\s*\(", body)) == 1 and len(re.findall(r"\bcase\s+Prim::", body)) >= 20:
                    continue  # one flat switch with a case per primitive
                problems.append("%s:%d: a function of %d lines (at most %d in %s/, unless one flat switch over "
                                "the primitives)" % (os.path.relpath(path, root), first, length, MAX_LINES, module))


STATUS_TEXT = re.compile(r'\bstatus\w*(\(\))?\s*(==|!=|=)\s*"(ok|hurdle|diverged|timeout|invalid|crashed|error|'
                         r'rejected|halved|unchosen)"|"(ok|hurdle|diverged|timeout|invalid|crashed|error|rejected|'
                         r'halved|unchosen)"\s*(==|!=)\s*[\w.>-]*status\b')


def check_status_text(root, problems):
    for module in LINE:
        for path in sources(root, module):
            if os.path.relpath(path, root) == os.path.join("tasks", "status.cpp"):
                continue
            with open(path, encoding="utf-8") as f:
                for number, text in enumerate(f, 1):
                    code = text.split("//")[0]
                    if STATUS_TEXT.search(code):
                        problems.append("%s:%d: a status compared or set as text (use tasks::Status)" %
                                        (os.path.relpath(path, root), number))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = []
    check_includes(root, problems)
    check_headers(root, problems)
    check_lengths(root, problems)
    check_status_text(root, problems)
    for p in problems:
        print(p)
    print("layout: %d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
