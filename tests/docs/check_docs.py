#!/usr/bin/env python3
"""Checks that the docs (README.md and docs/*.md) match the tree and the program (run by ctest as `docs`; exit 1
with every problem listed, each naming its file and the missing item).

1. Links: every relative link `[x](path)` or `![x](path)` outside code blocks resolves to an existing file or
   folder (http:, https: and mailto: links are skipped; a #fragment is cut off first). A fragment into a .md file,
   a pure #anchor included, must also name one of that file's headings (the anchors GitHub gives them).
2. Commands and flags: every subcommand `nos help` lists appears as `nos CMD` (benchmarks as `nos bench NAME`), and
   every flag of every subcommand (`nos CMD --help`, `nos help bench NAME`) appears as `--flag`, in README.md or
   docs/*.md.
3. Config keys: every key the program accepts — search (each section), compare, eval, learn — is named in its
   section's key table, the text between `<!-- keys:SECTION -->` and `<!-- /keys:SECTION -->` (SECTION: top-level,
   task, prefilter, ..., funnel, fitness.tasks, compare, eval, learn), as `key`, `SECTION.key` or `.key`. A table
   for a section the program does not have is a problem too.
   The keys come from the program: `nos config-keys` (a hidden command printing COMMAND<TAB>SECTION<TAB>KEY per
   line, SECTION empty for the top level) when the executable has it; otherwise from the program's own errors for
   an unknown key (`... unknown key (known keys of 'task': name, epochs, ...)`), probing each section with a
   one-key config. --keys-file FILE reads the hook's output from FILE instead.
4. The README: at most 250 lines, a "## Quick start" heading with `scripts/run.sh` and `scripts/test.sh` under it,
   and a map of docs/ (its "## The docs" section) linking every docs/*.md file.

Usage: check_docs.py ROOT NOS_EXECUTABLE [--keys-file FILE]
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import unicodedata

README_MAX_LINES = 250
MAP_HEADING = "The docs"  # the README's map of docs/: a link to every docs/*.md
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
KNOWN_KEYS = re.compile(r"unknown key \(known keys(?: of '([^']*)')?: ([^)]*)\)")
MARKER = re.compile(r"<!--\s*(/?)keys:([\w.\-]+)\s*-->")
PROBE_KEY = "nos_docs_probe_no_such_key"


def doc_files(root):
    files = [os.path.join(root, "README.md")]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        files += [os.path.join(docs, n) for n in sorted(os.listdir(docs)) if n.endswith(".md")]
    return [f for f in files if os.path.isfile(f)]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def github_anchor(heading):
    """The id GitHub gives a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "").lower()
    kept = []
    for ch in text:
        if ch in "-_ " or unicodedata.category(ch)[0] in "LN":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        found, seen = set(), {}
        for _, line in prose_lines(read(path)):
            m = HEADING.match(line)
            if m:
                base = github_anchor(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else "%s-%d" % (base, n))
        cache[path] = found
    return cache[path]


def check_links(root, files, problems):
    count = 0
    for path in files:
        rel = os.path.relpath(path, root)
        for number, line in prose_lines(read(path)):
            for m in LINK.finditer(line):
                target = m.group(3)
                if not target or re.match(r"(https?:|mailto:)", target, re.I):
                    continue
                count += 1
                where, _, fragment = target.partition("#")
                resolved = path if not where else os.path.normpath(os.path.join(os.path.dirname(path), where))
                if not os.path.exists(resolved):
                    problems.append("%s:%d: link (%s) points to %s, which does not exist"
                                    % (rel, number, target, os.path.relpath(resolved, root)))
                elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                    problems.append("%s:%d: link (%s): %s has no heading with anchor #%s"
                                    % (rel, number, target, os.path.relpath(resolved, root), fragment))
    return count


def run(nos, args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([nos] + args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def parallel(jobs):
    """Runs the callables at once (each starts the executable: its start-up dominates); their results, in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def commands(nos, problems):
    """The commands and benchmarks `nos help` lists: ["rule", ..., "bench train", ...]."""
    code, out, err = run(nos, ["help"])
    if code != 0:
        problems.append("`nos help` failed (exit %d): %s" % (code, err.strip()))
        return []
    found, listing = [], False
    for line in out.split("\n"):
        if line.strip() == "Commands:":
            listing = True
            continue
        if listing and not line.strip():
            break
        m = re.match(r"^    (bench [\w-]+)\b", line) or re.match(r"^  ([\w-]+)\b", line)
        if listing and m:
            found.append(m.group(1))
    if not found:
        problems.append("`nos help` lists no commands (no 'Commands:' section):\n" + out)
    return found


def help_flags(text):
    """The long options of a help text's Options: section (`--x`, `-n [ --n ]`)."""
    flags, options = [], False
    for line in text.split("\n"):
        if re.match(r"^\S.*:\s*$", line):
            options = line.strip() == "Options:"
            continue
        m = re.match(r"^  (?:-\w \[ )?--([A-Za-z0-9][\w-]*)", line)
        if options and m:
            flags.append(m.group(1))
    return flags


def check_commands(nos, docs, problems):
    names = commands(nos, problems)
    for name in names:
        if not re.search(r"(?<![\w-])nos %s(?![\w-])" % re.escape(name), docs):
            problems.append("`nos help` lists `nos %s`, which is not in README.md or docs/*.md" % name)
    topics = [n for n in names if n != "help"]
    helps = parallel([(lambda n=n: run(nos, ["help"] + n.split())) for n in topics])
    flags = 0
    for name, (code, out, err) in zip(topics, helps):
        if code != 0:
            problems.append("`nos help %s` failed (exit %d): %s" % (name, code, err.strip()))
            continue
        for flag in help_flags(out):
            flags += 1
            if not re.search(r"(?<![\w-])--%s(?![\w-])" % re.escape(flag), docs):
                problems.append("`nos %s --help` has --%s, which is not in README.md or docs/*.md" % (name, flag))
    return len(names), flags


# --------------------------------------------------------------------------------------------- config keys

def table_name(command, section):
    """The marker name of a section: compare, eval, learn; search's top-level, task, fitness.tasks, ..."""
    if command != "search":
        return command
    return section or "top-level"


def keys_from_file(path):
    keys = {}
    for line in read(path).split("\n"):
        if line.strip():
            command, section, key = (line.split("\t") + ["", ""])[:3]
            keys.setdefault(table_name(command, section), []).append(key)
    return keys


def yaml_for(path, value):
    """A config that sets PATH (["fitness", "tasks"]) to VALUE (flow YAML)."""
    text = value
    for part in reversed(path):
        text = "{%s: %s}" % (part, text)
    return text + "\n"


class Prober:
    """Reads the keys a command accepts from its own error for an unknown key."""

    def __init__(self, nos, folder):
        self.nos, self.folder, self.count = nos, folder, 0

    def error(self, command, text):
        self.count += 1
        config = os.path.join(self.folder, "probe-%d.yaml" % self.count)
        with open(config, "w") as f:
            f.write(text)
        out_dir = os.path.join(self.folder, "out-%d" % self.count)
        args = {"search": ["search", "--config", config, "--run-dir", out_dir],
                "compare": ["compare", "--config", config, "--out", out_dir],
                "learn": ["learn", "--config", config, "--out", out_dir],
                "eval": ["eval", "--config", config]}[command]
        code, out, err = run(self.nos, args, cwd=self.folder)
        return code, err + out

    def known(self, command, path):
        """The keys of the mapping at PATH (a list of mappings tried too), or None with the program's message."""
        code, message = self.error(command, yaml_for(path, "{%s: 1}" % PROBE_KEY) if path else PROBE_KEY + ": 1\n")
        m = KNOWN_KEYS.search(message)
        if not m and path and "list" in message:
            code, message = self.error(command, yaml_for(path, "[{%s: 1}]" % PROBE_KEY))
            m = KNOWN_KEYS.search(message)
        if not m or code == 0:
            return None, message.strip()
        return [k.strip() for k in m.group(2).split(",") if k.strip()], ""


def keys_from_program(nos, wanted_nested, problems):
    """{table name: keys} read from the program: the hook, else the error messages. Also says which."""
    code, out, _ = run(nos, ["config-keys"])
    if code == 0 and out.strip():
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write(out)
        try:
            return keys_from_file(f.name), "`nos config-keys`"
        finally:
            os.unlink(f.name)
    keys = {}
    with tempfile.TemporaryDirectory(prefix="nos-docs-") as folder:
        prober = Prober(nos, folder)
        plain = parallel([lambda c=c: prober.known(c, []) for c in ("search", "compare", "eval", "learn")])
        for command, (found, message) in zip(("search", "compare", "eval", "learn"), plain):
            if found is None:
                problems.append("could not read the keys of `nos %s` from its error for an unknown key: %s"
                                % (command, message))
            else:
                keys[table_name(command, "")] = found
        sections = [[k] for k in keys.get("top-level", [])]
        sections += [name.split(".") for name in wanted_nested if name.split(".")[0] in keys.get("top-level", [])]
        nested = parallel([lambda p=p: prober.known("search", p) for p in sections])
        for path, (found, message) in zip(sections, nested):
            if found is not None:
                keys[".".join(path)] = found
    return keys, "the program's errors for an unknown key (no `nos config-keys` in this executable)"


def key_tables(files, root, problems):
    """{name: [(file, text between the markers)]} of every keys:NAME table."""
    tables = {}
    for path in files:
        rel = os.path.relpath(path, root)
        text = read(path)
        open_at = {}
        for m in MARKER.finditer(text):
            closing, name = m.group(1) == "/", m.group(2)
            if not closing:
                if name in open_at:
                    problems.append("%s: <!-- keys:%s --> opened twice before its <!-- /keys:%s -->" % (rel, name, name))
                open_at[name] = m.end()
            elif name not in open_at:
                problems.append("%s: <!-- /keys:%s --> without its <!-- keys:%s -->" % (rel, name, name))
            else:
                tables.setdefault(name, []).append((rel, text[open_at.pop(name):m.start()]))
        for name in open_at:
            problems.append("%s: <!-- keys:%s --> is never closed (<!-- /keys:%s -->)" % (rel, name, name))
    return tables


def named_in(text):
    """The names a table gives in backticks: `key`, `section.key` and `.key` all name key."""
    names = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        span = span.strip()
        names.add(span)
        names.add(re.sub(r"\[\d+\]", "", span).split(".")[-1])
    return names


def check_keys(nos, root, files, problems, keys_file=None):
    tables = key_tables(files, root, problems)
    if keys_file:
        keys, source = keys_from_file(keys_file), keys_file
    else:
        nested = [name for name in tables if "." in name]
        keys, source = keys_from_program(nos, nested, problems)
    total = 0
    for name, accepted in sorted(keys.items()):
        if name not in tables:
            problems.append("no <!-- keys:%s --> table in README.md or docs/*.md for the keys %s"
                            % (name, ", ".join(accepted)))
            continue
        names = set()
        for _, text in tables[name]:
            names |= named_in(text)
        where = ", ".join(sorted({f for f, _ in tables[name]}))
        for key in accepted:
            total += 1
            if key not in names:
                problems.append("%s: the keys:%s table does not name `%s`, a key the program accepts" % (where, name, key))
    for name in sorted(set(tables) - set(keys)):
        files_with = ", ".join(sorted({f for f, _ in tables[name]}))
        problems.append("%s: a keys:%s table, but the program has no such config section (it has: %s)"
                        % (files_with, name, ", ".join(sorted(keys))))
    return total, len(keys), source


# --------------------------------------------------------------------------------------------- the README

def check_readme(root, files, problems):
    path = os.path.join(root, "README.md")
    text = read(path)
    lines = text.rstrip("\n").split("\n")
    if len(lines) > README_MAX_LINES:
        problems.append("README.md: %d lines, more than %d (what a newcomer reads first; the rest goes to docs/)"
                        % (len(lines), README_MAX_LINES))
    quick = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not quick:
        problems.append("README.md: no '## Quick start' heading")
    else:
        for command in ("scripts/run.sh", "scripts/test.sh"):
            if not re.search(r"^%s(\s|$)" % re.escape(command), quick.group(1), re.M):
                problems.append("README.md: the Quick start does not run `%s`" % command)
    doc_map = re.search(r"^## %s\s*$(.*?)(?=^## |\Z)" % re.escape(MAP_HEADING), text, re.M | re.S)
    if not doc_map:
        problems.append("README.md: no '## %s' heading (the map of docs/)" % MAP_HEADING)
        return
    linked = set()
    for _, line in prose_lines(doc_map.group(1)):
        for m in LINK.finditer(line):
            linked.add(os.path.normpath(os.path.join(root, m.group(3).partition("#")[0])))
    for path in files[1:]:
        if path not in linked:
            problems.append("README.md: the map of docs/ ('## %s') does not link %s"
                            % (MAP_HEADING, os.path.relpath(path, root)))


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--keys-file"):
        print(__doc__)
        return 2
    root, nos = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    keys_file = argv[4] if len(argv) == 5 else None
    files = doc_files(root)
    docs = "\n".join(read(f) for f in files)
    problems = []
    links = check_links(root, files, problems)
    command_count, flag_count = check_commands(nos, docs, problems)
    key_count, section_count, source = check_keys(nos, root, files, problems, keys_file)
    check_readme(root, files, problems)
    for problem in problems:
        print(problem)
    print("docs: %d files, %d links, %d commands, %d flags, %d config keys in %d sections (keys from %s): %s"
          % (len(files), links, command_count, flag_count, key_count, section_count, source,
             "%d problem%s" % (len(problems), "" if len(problems) == 1 else "s") if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
