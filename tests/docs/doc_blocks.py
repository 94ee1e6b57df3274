#!/usr/bin/env python3
"""Checks that every C++ and CMake block of the newcomer docs is word for
word in the file the test suite builds and runs: each such block follows a
line `<!-- from PATH -->` naming that file (relative to the repository)."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
pages = ["docs/getting-started.md", "docs/embedding.md"]
checked_languages = {"cpp", "cmake"}
block = re.compile(r"(?:<!-- from (?P<src>\S+) -->\s*\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)

errors = []
count = 0
for page in pages:
    text = (root / page).read_text()
    for m in block.finditer(text):
        if m["lang"] not in checked_languages:
            continue
        line = text.count("\n", 0, m.start("body"))
        if not m["src"]:
            errors.append(f"{page}:{line}: a {m['lang']} block without <!-- from PATH -->")
            continue
        source = (root / m["src"]).read_text()
        if m["body"].strip() not in source:
            errors.append(f"{page}:{line}: the block differs from {m['src']}")
        count += 1
if errors:
    sys.exit("\n".join(errors))
print(f"{count} blocks of {', '.join(pages)} match their sources")
