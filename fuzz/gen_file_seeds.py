#!/usr/bin/env python3
"""Writes the named seeds of fuzz/corpus/file_{header,ack,trailer}/ (valid
transfers, every ERR code's trigger, acks of every kind, trailers right and
wrong). Usage: python3 gen_file_seeds.py corpus   (from fuzz/). Input layouts
are described at the top of file_checks.rs: a seed byte, then the stream."""
import os, sys
try:
    from blake3 import blake3
    def h(d): return blake3(d).hexdigest().encode()
except ImportError:  # the hashes of the two contents used below
    H = {b"hello": b"ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f",
         b"": b"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"}
    def h(d): return H[d]
root = sys.argv[1]
def w(target, name, data, seed=7):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f: f.write(bytes([seed]) + data)

hello = b"hello"
# ---- file_header: what a sender sends a receiver ---------------------------
w("file_header", "valid", b"a.txt|5\nhello" + b"BLAKE3 " + h(hello) + b"\n")
w("file_header", "valid-crlf-upper", b"a.txt|5\r\nhello" + b"BLAKE3 " + h(hello).upper() + b"\r\n", 1)
w("file_header", "empty-file", b"e|0\nBLAKE3 " + h(b"") + b"\n")
w("file_header", "bar-in-name", b"a|b|5\nhelloBLAKE3 " + h(hello) + b"\n", 200)
w("file_header", "short", b"a|10\nhello")
w("file_header", "wrong-hash", b"a|5\nhelloBLAKE3 " + h(b"") + b"\n")
w("file_header", "no-trailer", b"a|5\nhello, and more\n")
for i, name in enumerate([b"../x", b"/abs", b"a/b", b"..", b".", b"a\\b", b"a\0b", b"n" * 300, b"caf\xe9", b"", b"t\tab"]):
    w("file_header", f"bad-name-{i}", name + b"|5\nhello", i)
for i, hd in enumerate([b"no bar\n", b"a|\n", b"a|x\n", b"a|-1\n", b"a| 5\n", b"a|99999999999999999999999\n", b"a|2000000\n", b"x" * 300]):
    w("file_header", f"bad-header-{i}", hd, i)
w("file_header", "cap-edge", b"a|" + b"0" * 252 + b"5\nhello" + b"BLAKE3 " + h(hello) + b"\n", 3)
w("file_header", "cap-over", b"a|" + b"0" * 253 + b"5\nhello", 3)
# ---- file_ack: what a receiver answers a sender of 0123456789 --------------
dh = b"DONE 53b63a6fc8605d0c0ce559317a00177d72adb24d669235e4c914f443a8831ca1\n"  # BLAKE3 of 0123456789
w("file_ack", "ok-0", b"OK 0\n")
w("file_ack", "ok-0-done", b"OK 0\n" + dh)
w("file_ack", "ok-3", b"OK 3\r\n")
w("file_ack", "ok-10", b"OK 10\n")
w("file_ack", "ok-past-end", b"OK 11\n")
w("file_ack", "bare", b"OK")
w("file_ack", "bare-newline", b"OK\n")
w("file_ack", "okay", b"OKAY\n")
w("file_ack", "ok-huge", b"OK 99999999999999999999999\n")
w("file_ack", "err-exists", b"ERR exists f is there\n")
w("file_ack", "err-unknown", b"ERR nope x\n")
w("file_ack", "err-after-ok", b"OK 0\nERR hash_mismatch nope\n")
w("file_ack", "done-early", b"OK 0\nDONE 00\n")
w("file_ack", "http", b"HTTP/1.1 400 Bad Request\r\n\r\n")
# ---- file_trailer: what follows t|5\nhello ---------------------------------
w("file_trailer", "right", b"BLAKE3 " + h(hello) + b"\n")
w("file_trailer", "right-upper-crlf", b"BLAKE3 " + h(hello).upper() + b"\r\n", 9)
w("file_trailer", "wrong", b"BLAKE3 " + h(b"") + b"\n")
w("file_trailer", "short-hex", b"BLAKE3 " + h(hello)[:63] + b"\n")
w("file_trailer", "long-hex", b"BLAKE3 " + h(hello) + b"0\n")
w("file_trailer", "not-hex", b"BLAKE3 " + b"g" * 64 + b"\n")
w("file_trailer", "done-line", b"DONE " + h(hello) + b"\n")
w("file_trailer", "none", b"")
w("file_trailer", "garbage", b"\xff" * 100)
