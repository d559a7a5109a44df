"""The lab's write probe: the ground truth for RPO.

It inserts 1, 2, 3... into `probe` on whichever server is the primary, every INTERVAL
seconds, and appends each write the server acknowledged (committed) to ACKED as
`seq unix_ms`. Unacknowledged writes are not recorded: only a write a client was told
succeeded can be lost.

    probe.py DSN ACKED [INTERVAL]

`report DSN ACKED` (see rpo.py) compares the file with the new primary after a failover.
"""

import os
import sys
import time

import psycopg2

DSN, ACKED = sys.argv[1], sys.argv[2]
INTERVAL = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05


def last_seq():
    try:
        with open(ACKED) as f:
            lines = f.read().split()
        return int(lines[-2]) if len(lines) >= 2 else 0
    except FileNotFoundError:
        return 0


seq = last_seq()
conn = None
with open(ACKED, "a", buffering=1) as out:
    while True:
        seq += 1
        try:
            if conn is None:
                conn = psycopg2.connect(DSN, connect_timeout=1)
                conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("INSERT INTO probe (seq) VALUES (%s)", (seq,))
            out.write(f"{seq} {int(time.time() * 1000)}\n")
            os.fsync(out.fileno())
        except psycopg2.Error:
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(INTERVAL)
