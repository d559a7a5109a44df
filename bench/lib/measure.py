#!/usr/bin/env python3
"""Small measuring tools for the bench scripts (Python's standard library only).

  measure.py run OUT CMD...      run CMD with stdout+stderr to OUT; print
                                 "<wall ms> <peak RSS KiB>" (exit status of CMD on failure)
  measure.py commit N            N SQLite transactions of one small row each, in WAL mode
                                 with synchronous=FULL (each commit fsynced), on a fresh
                                 file in the current folder; print the mean ms per commit:
                                 the physical floor of one durable step
  measure.py shape DB N          N transactions shaped like one sequential step of drctl
                                 (read the run, insert two events, update the run, upsert
                                 two step rows) on a copy of DB, a database drctl wrote;
                                 print the mean ms: what SQLite alone costs for a step
"""
import os
import resource
import sqlite3
import subprocess
import sys
import time


def run(out, cmd):
    with open(out, "wb") as f:
        t0 = time.perf_counter()
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
        ms = (time.perf_counter() - t0) * 1000
    if code != 0:
        sys.stderr.write("%s exited with %d (output in %s)\n" % (cmd[0], code, out))
        sys.exit(code if code > 0 else 1)
    # ru_maxrss of the children: the largest one's peak, in KiB on Linux.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("%.1f %d" % (ms, rss))


def remove_db(path):
    """Removes a SQLite database and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def commit(n):
    path = "floor-%d.db" % os.getpid()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    body = "x" * 300
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (body,))
        db.execute("COMMIT")
    ms = (time.perf_counter() - t0) * 1000 / n
    db.close()
    remove_db(path)
    print("%.4f" % ms)


def shape(src, n):
    path = "shape-%d.db" % os.getpid()
    copy = sqlite3.connect(src)
    dst = sqlite3.connect(path)
    copy.backup(dst)
    copy.close()
    dst.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    run, version = db.execute("SELECT id, version FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
    started = db.execute("SELECT actor, kind, body, prev_hash, hash FROM events WHERE run_id = ? AND kind = 'attempt_started' LIMIT 1", (run,)).fetchone()
    finished = db.execute("SELECT actor, kind, body, prev_hash, hash FROM events WHERE run_id = ? AND kind = 'attempt_finished' LIMIT 1", (run,)).fetchone()
    base = 1_000_000
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("SELECT version, head_hash, owner, fence, finished_at, EXISTS (SELECT 1 FROM commands WHERE run_id = runs.id AND taken = 0) FROM runs WHERE id = ?", (run,)).fetchone()
        version += 2
        db.execute("INSERT INTO events (run_id, seq, at, actor, kind, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)",
                   (run, version - 1, 1, *finished, run, version, 1, *started))
        db.execute("UPDATE runs SET version = ?, head_hash = ?, status = ?, detail = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                   (version, started[4], "running", None, None, 1, run))
        db.execute("INSERT INTO steps (run_id, position, item, step, block, status, attempts, started_at, finished_at, output, error) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (run_id, position, item) DO UPDATE SET status = excluded.status",
                   (run, base + i, -1, "s", "main", "succeeded", 1, 1, 1, '{"message":"hi"}', None,
                    run, base + i + 1, -1, "s", "main", "running", 1, 1, None, None, None))
        db.execute("COMMIT")
    ms = (time.perf_counter() - t0) * 1000 / n
    db.close()
    remove_db(path)
    print("%.4f" % ms)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "commit":
        commit(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "shape":
        shape(sys.argv[2], int(sys.argv[3]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
