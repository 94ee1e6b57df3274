#!/usr/bin/env python3
"""Checks that every C++ example in docs/streams.md is, word for word, in
tests/io/streams_doc_test.cpp, which compiles and runs them."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
doc = (root / "docs/streams.md").read_text()
test = (root / "tests/io/streams_doc_test.cpp").read_text()
blocks = re.findall(r"```cpp\n(.*?)```", doc, re.S)
if not blocks:
    sys.exit("docs/streams.md has no C++ examples")
missing = [b.splitlines()[0] for b in blocks if b.strip() not in test]
if missing:
    sys.exit("docs/streams.md examples not in tests/io/streams_doc_test.cpp: " + "; ".join(missing))
print(f"{len(blocks)} docs/streams.md examples match tests/io/streams_doc_test.cpp")
