#!/usr/bin/env python3
"""Writes the named seeds of fuzz/corpus/ws_frame/ (RFC 6455 examples,
fragments with control frames between them, every close code class, every
protocol error, the size limits of ws_checks.rs). Usage:
python3 gen_ws_seeds.py corpus   (from fuzz/). Input layout (ws_checks.rs):
a seed byte, then what a client sends a server after the handshake."""
import os, struct, sys
root = sys.argv[1]
def w(name, data, seed=7):
    d = os.path.join(root, "ws_frame"); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f: f.write(bytes([seed]) + data)

KEY = bytes([0x37, 0xfa, 0x21, 0x3d])
def frame(op, payload=b"", fin=True, mask=KEY, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126: h = bytes([b0, m | n])
    elif n < 65536: h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else: h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None: return h + payload
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
TEXT, BIN, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
def close(code, reason=b""): return frame(CLOSE, struct.pack(">H", code) + reason)

hello = frame(TEXT, b"Hello")
w("rfc-hello", hello)
w("rfc-hello-bytewise", hello, 0)
w("rfc-fragments", frame(TEXT, b"Hel", fin=False) + frame(CONT, b"lo"))
w("rfc-ping", frame(PING, b"Hello") + hello)
w("rfc-pong", frame(PONG, b"Hello") + hello)
w("len-126", frame(BIN, bytes(range(126))), 3)
w("len-200-limit", frame(BIN, b"x" * 200), 4)
w("len-201-over", frame(BIN, b"x" * 201), 5)
w("len-64bit-header", frame(BIN, b"x" * 70000)[:14], 6)
w("len-2-63", bytes([0x82, 0xFF, 0x7F]) + b"\xff" * 7 + KEY, 7)
w("message-300", frame(TEXT, b"a" * 150, fin=False) + frame(CONT, b"b" * 150), 8)
w("message-301", frame(TEXT, b"a" * 150, fin=False) + frame(CONT, b"b" * 151), 9)
w("interleaved", frame(TEXT, "€".encode()[:1], fin=False) + frame(PING, b"p") +
  frame(CONT, "€".encode()[1:], fin=False) + frame(PONG) + frame(CONT, b"!") + frame(BIN, b"\xff\x00"), 10)
w("utf8-bad-fragment", frame(TEXT, b"a\xf0\x28", fin=False), 11)
w("utf8-truncated", frame(TEXT, b"\xe2\x82", fin=False) + frame(CONT, b""), 12)
w("utf8-surrogate", frame(TEXT, b"\xed\xa0\x80"), 13)
w("utf8-overlong-split", frame(TEXT, b"\xe0", fin=False) + frame(CONT, b"\x80"), 14)
w("close-empty", frame(CLOSE) + hello)
w("close-1000-reason", close(1000, b"bye") + hello)
w("close-4999", close(4999), 15)
w("close-one-byte", frame(CLOSE, b"\x03"), 16)
w("close-1005", close(1005), 17)
w("close-2999", close(2999), 18)
w("close-5000", close(5000), 19)
w("close-bad-reason", close(1000, b"\xc3"), 20)
w("unmasked", frame(TEXT, b"hi", mask=None), 21)
w("rsv1", frame(TEXT, b"hi", rsv=0x40), 22)
w("opcode-3", frame(3, b"hi"), 23)
w("opcode-b", frame(0xB), 24)
w("ping-126", bytes([0x89, 0xFE, 0, 126]) + KEY + b"x" * 126, 25)
w("ping-fragmented", frame(PING, fin=False), 26)
w("continuation-alone", frame(CONT, b"x"), 27)
w("text-in-text", frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), 28)
w("many-pings", frame(PING, b"x" * 125) * 20, 29)
w("eof-mid-frame", hello[:8], 30)
