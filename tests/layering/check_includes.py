#!/usr/bin/python3
"""Dependencies point one way: rest -> service -> {db, driver, image, network} -> model ->
common, with the agent's client and protocol under the driver and app/ (main and the wiring)
on top of everything. Every `#include "<folder>/..."` of the product is checked against the
table below; a test (ctest `layering`) fails naming each include that breaks it.

Usage: check_includes.py [ROOT]   (exit 1 and one line per violation)
"""
import os
import re
import sys

# unit -> the units it may include (besides itself). A unit is a top folder, or for agent/
# its sub-folder. Tests, benchmarks and fuzzers (tests/, bench/) may include anything.
ALLOWED = {
    "common": set(),
    "model": {"common"},
    "db": {"model", "common"},
    "image": {"common"},
    "network": {"common"},
    "agent/protocol": {"common"},
    "agent/client": {"agent/protocol", "common"},
    "agent/guest": {"agent/protocol", "common"},
    "driver": {"agent/client", "agent/protocol", "network", "model", "common"},
    "service": {"db", "driver", "image", "network", "model", "common"},
    "rest": {"service", "model", "common"},
    "app": {"rest", "service", "db", "driver", "image", "network", "agent/client",
            "agent/protocol", "model", "common"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def unit_of(path):
    parts = path.split("/")
    if parts[0] == "agent" and len(parts) > 2:
        return "agent/" + parts[1]
    return parts[0]


def violations(root):
    out = []
    for unit in ALLOWED:
        base = os.path.join(root, unit)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith((".cc", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or "/" not in m.group(1):
                            continue
                        target = unit_of(m.group(1))
                        if target == unit_of(rel) or target in ALLOWED[unit_of(rel)]:
                            continue
                        if target not in ALLOWED and target not in ("tests", "bench"):
                            continue  # a library's header, e.g. "spdlog/..."
                        out.append("%s:%d: %s includes %s (%s may include: %s)" % (
                            rel, lineno, unit_of(rel), m.group(1), unit_of(rel),
                            ", ".join(sorted(ALLOWED[unit_of(rel)])) or "nothing"))
    return out


def self_test():
    """The check itself: a tree whose db/ includes service/ must fail, naming the line."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        for path, text in (("db/store.cc", '#include "model/x.h"\n#include "service/y.h"\n'),
                           ("model/x.h", '#include "common/z.h"\n#include <vector>\n'),
                           ("rest/api.cc", '#include "spdlog/spdlog.h"\n#include "service/y.h"\n')):
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        bad = violations(root)
    assert len(bad) == 1 and bad[0].startswith("db/store.cc:2: db includes service/y.h"), bad


def main():
    self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    bad = violations(root)
    for line in bad:
        print(line)
    if bad:
        print("%d include(s) break the layering (tests/layering/check_includes.py)" % len(bad))
        return 1
    print("layering: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
