#!/usr/bin/env python3
"""Verifies a Strata audit export (strata audit --export FILE) on its own.

Stands in for an outside auditor: it uses only the Python standard library
and the format in docs/audit.md, none of Strata's code. For every line:
  hash == sha256(bytes.fromhex(prev_hash) + canonical(record)).hexdigest()
and within each partition prev_hash is the previous record's hash (64 zeros
for its first record) and offsets increase. Exit 0 if the whole file verifies;
otherwise prints the first bad line and exits 1.
"""
import hashlib
import json
import sys


def canonical(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify(path):
    last = {}  # partition -> (offset, hash)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            entry = json.loads(line)
            rec, prev, h = entry["record"], entry["prev_hash"], entry["hash"]
            p, off = rec["partition"], rec["offset"]
            expected_prev = last[p][1] if p in last else "0" * 64
            if prev != expected_prev:
                return f"line {n}: partition {p} offset {off}: chain broken"
            if p in last and off <= last[p][0]:
                return f"line {n}: partition {p} offset {off}: out of order"
            digest = hashlib.sha256(bytes.fromhex(prev) + canonical(rec).encode("utf-8")).hexdigest()
            if digest != h:
                return f"line {n}: partition {p} offset {off}: hash does not match the record"
            last[p] = (off, h)
    return None


if __name__ == "__main__":
    problem = verify(sys.argv[1])
    if problem:
        print(problem)
        sys.exit(1)
    print("ok")
