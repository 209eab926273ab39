#!/usr/bin/env python3
"""Every `docs/<file>.md#<section>` a tracked file points to must exist.

Comments and documents refer to the compatibility notes by file and section
(`docs/protocol.md#identify`, or `#section` inside docs/ itself). This checks
each such reference against the headings (GitHub's anchor rules) and the
explicit `<a id="...">` anchors of docs/*.md. Run from anywhere; checks the
repository it lives in (tracked and untracked, not ignored, files).
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(path):
    found, seen, in_code = set(), {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
                continue
            if in_code:
                continue
            m = re.match(r"^#+\s+(.*)$", line)
            if m:
                s = slug(m.group(1))
                n = seen.get(s, 0)
                seen[s] = n + 1
                found.add(s if n == 0 else f"{s}-{n}")
            found.update(re.findall(r'<a id="([^"]+)"', line))
    return found


def main():
    os.chdir(ROOT)
    docs = {f: anchors_of(os.path.join("docs", f)) for f in os.listdir("docs") if f.endswith(".md")}
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    broken = []
    for path in files:
        if not path or path.startswith("test-support/fixtures/") or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except UnicodeDecodeError:
            continue
        in_docs = path.startswith("docs/")
        for n, line in enumerate(lines, 1):
            for name, anchor in re.findall(r"([a-z-]+\.md)#([\w-]+)", line):
                if name in docs and anchor not in docs[name]:
                    broken.append(f"{path}:{n}: {name}#{anchor}")
            if in_docs:
                for anchor in re.findall(r"\]\(#([\w-]+)\)", line):
                    if anchor not in docs[os.path.basename(path)]:
                        broken.append(f"{path}:{n}: #{anchor}")
    for b in broken:
        print(f"check-doc-links: no such section: {b}", file=sys.stderr)
    if broken:
        sys.exit(1)
    print(f"check-doc-links: every docs/ section reference resolves ({len(docs)} files)")


if __name__ == "__main__":
    main()
