#!/usr/bin/env python3
"""Writes the named seeds of fuzz/corpus/tls_glue/ (every mutation kind of
tls_pair, mutual TLS and not, tiny and ~20 KB payloads; a few tls_garbage
streams). Usage: python3 gen_tls_seeds.py corpus   (from fuzz/). The input
layout is described at the top of tls_checks.rs."""
import os, struct, sys
root = os.path.join(sys.argv[1], "tls_glue")
os.makedirs(root, exist_ok=True)

def w(name, data):
    with open(os.path.join(root, name), 'wb') as f:
        f.write(data)

NONE, CUT, FLIP, GARBAGE, TIMEOUT = range(5)
MAX_PLAINTEXT = {65536: 0, 4096: 1, 100: 2, 1: 3}
MAX_UNSENT = {1 << 20: 0, 16384: 1, 2000: 2, 300: 3}

def pair(mutation=NONE, mutual=False, down=False, k=0, aux=0, sizes=(0,),
         plaintext=65536, unsent=1 << 20, extra=0, garbage=b"", payload=b""):
    assert 1 <= len(sizes) <= 8
    ctl = int(mutual) | mutation << 1 | int(down) << 4 | MAX_PLAINTEXT[plaintext] << 5
    shape = (len(sizes) - 1) | MAX_UNSENT[unsent] << 3
    out = bytes([ctl]) + struct.pack("<HBB", k, aux, shape)
    out += b"".join(struct.pack("<H", s) for s in sizes)
    out += struct.pack("<H", extra)
    if mutation == GARBAGE:
        assert len(garbage) == max(aux, 1)
        out += garbage
    return out + payload

def garbage(data, mutual=False, by_timeout=False, sizes=(0,)):
    ctl = 0x80 | int(mutual) | int(by_timeout) << 1
    return bytes([ctl, len(sizes) - 1]) + b"".join(struct.pack("<H", s) for s in sizes) + data

HELLO = b"hello, TLS"
GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

# ---- tls_pair: no mutation ------------------------------------------------
w("pair-tiny", pair(payload=HELLO))
w("pair-tiny-mutual", pair(mutual=True, payload=HELLO))
w("pair-empty", pair())
w("pair-20k-split", pair(extra=20000, sizes=(1000, 7)))
w("pair-20k-mutual-backpressure", pair(mutual=True, extra=20000, sizes=(13, 500), plaintext=100, unsent=300))
w("pair-plaintext-cap-1", pair(payload=HELLO * 30, sizes=(5,), plaintext=1, unsent=2000))
w("pair-4k-cap", pair(extra=9000, sizes=(4096, 1), plaintext=4096, unsent=16384))
# ---- cut without close_notify ---------------------------------------------
w("cut-up-in-hello", pair(CUT, k=100, payload=HELLO))
w("cut-up-after-handshake", pair(CUT, k=2000, extra=20000, sizes=(300,)))
w("cut-down-in-hello", pair(CUT, down=True, k=50, payload=HELLO))
w("cut-down-mutual", pair(CUT, mutual=True, down=True, k=4000, extra=3000))
# ---- a flipped byte -------------------------------------------------------
w("flip-up-record-type", pair(FLIP, k=0, aux=0x01, payload=HELLO))
w("flip-up-late", pair(FLIP, k=1700, aux=0x01, extra=2000, sizes=(64,)))
w("flip-down-mutual", pair(FLIP, mutual=True, down=True, k=200, aux=0x20, payload=HELLO))
w("flip-down-20k", pair(FLIP, down=True, k=3000, aux=0x80, extra=20000, sizes=(512, 3)))
# ---- garbage before the first record --------------------------------------
w("garbage-up-http", pair(GARBAGE, aux=len(GET), garbage=GET, payload=HELLO))
w("garbage-down-header", pair(GARBAGE, down=True, aux=5, garbage=b"\x16\x03\x03\x00\x10", payload=HELLO))
w("garbage-up-ccs-mutual", pair(GARBAGE, mutual=True, aux=6, garbage=b"\x14\x03\x03\x00\x01\x01", payload=HELLO))
# ---- the handshake deadline -----------------------------------------------
w("timeout-at-start", pair(TIMEOUT, k=0, payload=HELLO))
w("timeout-mid-handshake-mutual", pair(TIMEOUT, mutual=True, k=2, sizes=(700,), payload=HELLO))
w("timeout-after-handshake", pair(TIMEOUT, k=40, sizes=(100,), extra=5000))
# ---- tls_garbage ----------------------------------------------------------
w("garbage-http-request", garbage(GET))
w("garbage-empty-timeout", garbage(b"", by_timeout=True))
w("garbage-bytes-split-mutual", garbage(bytes(range(256)), mutual=True, sizes=(1, 2, 3)))
w("garbage-bogus-client-hello", garbage(b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", by_timeout=True, sizes=(4, 0)))
w("garbage-alert-record", garbage(b"\x15\x03\x03\x00\x02\x02\x28"))
