#!/usr/bin/env python3
"""Replaces the settings tables in README.md with what `rrstore settings --markdown` prints
(SettingsTests checks that they agree). Usage: scripts/readme-settings.py [BINARY]"""
import re, subprocess, sys
binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/rrstore"
printed = subprocess.run([binary, "settings", "--markdown"], check=True, capture_output=True, text=True).stdout
blocks = dict(re.findall(r"(<!-- settings: (\w+) -->.*?<!-- end settings: \2 -->)", printed, re.S)[i][::-1] for i in range(printed.count("<!-- settings:")))
readme = open("README.md").read()
for name, block in blocks.items():
    readme, count = re.subn(rf"<!-- settings: {name} -->.*?<!-- end settings: {name} -->", lambda _: block, readme, flags=re.S)
    if count != 1:
        sys.exit(f"README.md has {count} '{name}' settings tables, expected 1")
open("README.md", "w").write(readme)
