#!/usr/bin/env python3
"""Tests of check_layout.py on small made-up trees: each rule it enforces is broken once and must be reported."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_layout  # noqa: E402


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as f:
        f.write(text)


def tree(root):
    """A tree that follows every rule."""
    for module in check_layout.LINE:
        header = "cli/cli.h" if module == "cli" else "%s/%s.h" % (module, module)
        write(root, header, "// %s: what it offers.\n#pragma once\n" % module)
    write(root, "search/run.cpp", '// The loop.\n#include "dsl/dsl.h"\n#include "search/search.h"\n'
                                  '#include "common/error.h"\n')


def problems(root):
    found = []
    check_layout.check_includes(root, found)
    check_layout.check_headers(root, found)
    check_layout.check_lengths(root, found)
    check_layout.check_status_text(root, found)
    return found


def function(name, lines):
    return "int %s(int x) {\n%s  return x;\n}\n" % (name, "  x += 1;  // { not a brace }\n" * lines)


class CheckLayoutTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = self.dir.name
        tree(self.root)

    def tearDown(self):
        self.dir.cleanup()

    def test_a_clean_tree_passes(self):
        self.assertEqual(problems(self.root), [])

    def test_an_include_pointing_right_is_reported(self):
        write(self.root, "dsl/parse.cpp", '// Parse.\n#include "dsl/dsl.h"\n#include "tasks/trainer.h"\n')
        found = problems(self.root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("dsl/parse.cpp:3: dsl includes tasks", found[0])

    def test_a_test_follows_its_module(self):
        write(self.root, "tests/optimizers/x_test.cpp", '#include "search/search.h"\n#include "tests/temp_dir.h"\n')
        found = problems(self.root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("optimizers includes search", found[0])

    def test_a_missing_opening_header_is_reported(self):
        os.remove(os.path.join(self.root, "bench", "bench.h"))
        found = problems(self.root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("bench/bench.h", found[0])

    def test_long_functions_are_reported_in_every_module(self):
        write(self.root, "dsl/a.cpp", "// A.\nnamespace nos {\nnamespace {\n" + function("ok", 70) +
              "}  // namespace\n" + function("too_long", 78) + "}\n")
        write(self.root, "search/b.cpp", "// B.\n" + function("long_in_search_too", 200))
        write(self.root, "cli/c.cpp", "// C.\n" + function("short_enough", 77))
        found = problems(self.root)
        self.assertEqual(len(found), 2, found)
        self.assertIn("dsl/a.cpp:78: a function of 81 lines", found[0])
        self.assertIn("search/b.cpp:2: a function of 203 lines", found[1])

    def test_a_flat_switch_over_the_primitives_may_be_long(self):
        cases = "".join("    case Prim::k%d:\n      return %d;\n" % (i, i) for i in range(40))
        write(self.root, "experiments/c.cpp", "// C.\nint value(Prim p) {\n  switch (p) {\n" + cases +
              "  }\n  return 0;\n}\n")
        self.assertEqual(problems(self.root), [])
        write(self.root, "experiments/d.cpp", "// D.\nint value(Prim p) {\n  switch (p) {\n" + cases +
              "  }\n  switch (p) {\n  }\n  return 0;\n}\n")
        self.assertEqual(len(problems(self.root)), 1)

    def test_a_status_compared_as_text_is_reported(self):
        write(self.root, "search/e.cpp", '// E.\nbool f(const R& r) {\n  return r.status == "ok";  // was\n}\n'
              'void g(R& r) { r.status = tasks::Status::kOk; }  // status = "ok" in a comment is fine\n')
        found = problems(self.root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("search/e.cpp:3: a status compared or set as text", found[0])
        write(self.root, "tasks/status.cpp", '// S.\nconst char* t() { return status == "ok" ? "ok" : ""; }\n')
        self.assertEqual(len(problems(self.root)), 1)


if __name__ == "__main__":
    unittest.main()
