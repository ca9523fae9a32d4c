#!/usr/bin/python3
"""The storage floor of a create: what this disk gives for the two fsync'ed SQLite commits a
create needs at least (its container row and its action record), in a plain single-threaded
loop with nothing else: WAL, synchronous=FULL, a ~1 KB JSON row and a small action row, as
zunvmd's database has them. Prints creates/s (one create = the two commits).

usage: bench/sqlite_floor.py DIR [SECONDS]   (DIR: a directory on the filesystem to measure;
a temporary database is made in it and removed)
"""
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    seconds = float(sys.argv[2]) if len(sys.argv) == 3 else 5.0
    with tempfile.TemporaryDirectory(dir=sys.argv[1]) as tmp:
        db = sqlite3.connect(os.path.join(tmp, "floor.sqlite"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE containers (id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,"
                   " name TEXT NOT NULL, data TEXT NOT NULL)")
        db.execute("CREATE TABLE container_actions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " container_uuid TEXT NOT NULL, action TEXT NOT NULL, start_time INTEGER NOT NULL)")
        record = json.dumps({"image": "busybox", "command": ["sleep", "inf"], "environment": {},
                             "labels": {}, "pad": "x" * 900})
        creates = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            u = str(uuid.uuid4())
            db.execute("BEGIN")
            db.execute("INSERT INTO containers(uuid, name, data) VALUES(?, ?, ?)", (u, "c-" + u[:8], record))
            db.execute("COMMIT")
            db.execute("BEGIN")
            db.execute("INSERT INTO container_actions(container_uuid, action, start_time) VALUES(?, 'create', ?)",
                       (u, int(time.time() * 1e6)))
            db.execute("COMMIT")
            creates += 1
        elapsed = time.monotonic() - start
        db.close()
    print("%.1f" % (creates / elapsed))


if __name__ == "__main__":
    main()
