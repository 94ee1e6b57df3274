#!/usr/bin/env python3
"""Checks that the README's server example is word for word the code of
demos/echo_server/main.cpp (so the example compiles: the demo is built)."""
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parents[2]
readme = (root / "README.md").read_text()
demo = (root / "demos/echo_server/main.cpp").read_text()
# The first C++ block of the "A server" section.
start = readme.index("```cpp\n", readme.index("## A server")) + len("```cpp\n")
block = readme[start:readme.index("```", start)]
if block.strip() not in demo:
    sys.exit("README.md's server example differs from demos/echo_server/main.cpp")
print("README example matches demos/echo_server/main.cpp")
