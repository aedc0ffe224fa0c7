#!/usr/bin/env python3
"""The link between two test hosts (network namespaces) of sansnet's tests.

This kernel has no netem, so the tests make the link themselves: a TUN
device `sntun0` in each namespace, and this relay between them, which
delays, drops and reorders IP packets the way netem defines those:

- delay D: every packet leaves D after it arrived (each way);
- loss P: each packet is dropped with probability P, independently;
- reorder R: each packet skips the delay with probability R (so with D > 0
  it overtakes the packets queued before it), as `netem delay D reorder R`;
- down: every packet is dropped (a cut link).

The queue is bounded (QUEUE_BYTES in flight per direction, tail drop), as a
router's is. Commands come one per line on stdin:

    set delay_ms=20 loss=0.01 reorder=0.25 down=0
    stats          -> prints "forwarded=N dropped=N reordered=N queued=N"
                      (reordered: packets that overtook queued ones)
    quit

Usage: relay.py NS_A NS_B SEED. Prints "ready" once both devices exist.
"""

import ctypes
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
QUEUE_BYTES = 4 << 20
DEVICE = b"sntun0"

libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def tun_in(ns):
    """A TUN device in namespace `ns`, opened from there."""
    with open(f"/var/run/netns/{ns}") as f:
        setns(f.fileno())
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", DEVICE, IFF_TUN | IFF_NO_PI))
    return fd


def main():
    ns_a, ns_b, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    fds = [tun_in(ns_a), tun_in(ns_b)]
    setns(home)
    rng = random.Random(seed)
    cfg = {"delay_ms": 0.0, "loss": 0.0, "reorder": 0.0, "down": 0.0}
    # Per direction: heap of (due, seq, packet) and the bytes in it.
    queues = [[], []]
    queued = [0, 0]
    seq = 0
    forwarded = dropped = reordered = 0
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    while True:
        now = time.monotonic()
        due = min((q[0][0] for q in queues if q), default=None)
        timeout = 0.05 if due is None else max(0.0, due - now)
        readable, _, _ = select.select([fds[0], fds[1], stdin], [], [], timeout)
        if stdin in readable:
            line = sys.stdin.readline()
            if not line or line.strip() == "quit":
                return
            words = line.split()
            if words and words[0] == "set":
                for w in words[1:]:
                    k, v = w.split("=", 1)
                    cfg[k] = float(v)
                if cfg["down"]:
                    for d in (0, 1):
                        dropped += len(queues[d])
                        queues[d].clear()
                        queued[d] = 0
            elif words and words[0] == "stats":
                print(
                    f"forwarded={forwarded} dropped={dropped} reordered={reordered} queued={sum(queued)}",
                    flush=True,
                )
        now = time.monotonic()
        for d in (0, 1):
            if fds[d] not in readable:
                continue
            for _ in range(256):
                try:
                    pkt = os.read(fds[d], 65536)
                except BlockingIOError:
                    break
                if cfg["down"] or rng.random() < cfg["loss"] or queued[d] + len(pkt) > QUEUE_BYTES:
                    dropped += 1
                    continue
                delay = cfg["delay_ms"] / 1000.0
                if rng.random() < cfg["reorder"]:
                    delay = 0.0
                    reordered += bool(queues[d])
                seq += 1
                heapq.heappush(queues[d], (now + delay, seq, pkt))
                queued[d] += len(pkt)
        now = time.monotonic()
        for d in (0, 1):
            q = queues[d]
            while q and q[0][0] <= now:
                _, _, pkt = heapq.heappop(q)
                queued[d] -= len(pkt)
                try:
                    os.write(fds[1 - d], pkt)
                    forwarded += 1
                except OSError:
                    dropped += 1


if __name__ == "__main__":
    main()
