"""Measure the data lost in a failover from the write probe's record (RPO).

    rpo.py DSN ACKED [SINCE]

Prints one JSON object: how many acknowledged writes the server at DSN is missing
(`lost_writes`), and the span of time they cover (`lost_seconds`: from the first lost
write's acknowledgement to the last acknowledged write before the fault, 0 when nothing
was lost). Writes acknowledged before SINCE (unix ms, or RFC 3339) are ignored, so a drill measures
only its own window.
"""

import json
import sys
from datetime import datetime

import psycopg2

DSN, ACKED = sys.argv[1], sys.argv[2]


def since(text):
    """Unix milliseconds, or an RFC 3339 time (a run's `started_at`)."""
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


SINCE = since(sys.argv[3]) if len(sys.argv) > 3 else 0

acked = []
with open(ACKED) as f:
    for line in f:
        parts = line.split()
        if len(parts) == 2 and int(parts[1]) >= SINCE:
            acked.append((int(parts[0]), int(parts[1])))

with psycopg2.connect(DSN, connect_timeout=2) as conn, conn.cursor() as cur:
    cur.execute("SELECT seq FROM probe WHERE seq >= %s", (acked[0][0] if acked else 0,))
    present = {row[0] for row in cur.fetchall()}
conn.close()

lost = [(s, at) for s, at in acked if s not in present]
seconds = (max(at for _, at in acked) - min(at for _, at in lost)) / 1000 if lost else 0.0
print(json.dumps({
    "acked_writes": len(acked),
    "lost_writes": len(lost),
    "lost_seconds": round(seconds, 3),
    "first_lost": lost[0][0] if lost else None,
    "last_acked": acked[-1][0] if acked else None,
}))
