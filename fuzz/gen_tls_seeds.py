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
         plaintext=65536, unsent=1 << 20, extra=0, garbage=b"", payload=b"", hub=False):
    assert 1 <= len(sizes) <= 8
    ctl = int(mutual) | mutation << 1 | int(down) << 4 | MAX_PLAINTEXT[plaintext] << 5
    shape = (len(sizes) - 1) | MAX_UNSENT[unsent] << 3 | int(hub) << 5
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
# The client's Finished and 20 KB in one read, a late record corrupted: the
# handshake finishes, then the record fails it (Established, then Failed).
w("flip-up-after-finished-one-read", pair(FLIP, k=21000, aux=0x01, extra=20000))
w("flip-down-20k", pair(FLIP, down=True, k=3000, aux=0x80, extra=20000, sizes=(512, 3)))
# ---- garbage before the first record --------------------------------------
w("garbage-up-http", pair(GARBAGE, aux=len(GET), garbage=GET, payload=HELLO))
w("garbage-down-header", pair(GARBAGE, down=True, aux=5, garbage=b"\x16\x03\x03\x00\x10", payload=HELLO))
w("garbage-up-ccs-mutual", pair(GARBAGE, mutual=True, aux=6, garbage=b"\x14\x03\x03\x00\x01\x01", payload=HELLO))
# ---- the handshake deadline -----------------------------------------------
w("timeout-at-start", pair(TIMEOUT, k=0, payload=HELLO))
w("timeout-mid-handshake-mutual", pair(TIMEOUT, mutual=True, k=2, sizes=(700,), payload=HELLO))
w("timeout-after-handshake", pair(TIMEOUT, k=40, sizes=(100,), extra=5000))
# ---- the server is a TlsHub connection ------------------------------------
w("hub-tiny", pair(hub=True, payload=HELLO))
w("hub-20k-mutual-backpressure", pair(hub=True, mutual=True, extra=20000, sizes=(700, 9), plaintext=100, unsent=300))
w("hub-cut-up-after-handshake", pair(CUT, hub=True, k=1800, extra=8000))
w("hub-flip-down", pair(FLIP, hub=True, down=True, k=1500, aux=0x04, payload=HELLO))
w("hub-garbage-up-http", pair(GARBAGE, hub=True, aux=len(GET), garbage=GET, payload=HELLO))
w("hub-timeout-mid-handshake", pair(TIMEOUT, hub=True, mutual=True, k=1, sizes=(900,), payload=HELLO))
# ---- tls_garbage ----------------------------------------------------------
w("garbage-http-request", garbage(GET))
w("garbage-empty-timeout", garbage(b"", by_timeout=True))
w("garbage-bytes-split-mutual", garbage(bytes(range(256)), mutual=True, sizes=(1, 2, 3)))
w("garbage-bogus-client-hello", garbage(b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", by_timeout=True, sizes=(4, 0)))
# A real first flight of the client (rustls 0.23, X25519MLKEM768 offered):
# the server answers it and waits for the rest of the handshake.
import base64
CLIENT_HELLO = base64.b64decode(
    "FgMBBcQBAAXAAwP4p+wn3hNIch+lD1OQqEMb6P5XqFrjL9M+iT2koSZ2FCCDzG99Zc4+Dsg2"
    "a++v5dq77giX4DlBSgemyO4LOslOwgAUEwITARMDwCzAK8ypwDDAL8yoAP8BAAVjAAoACgAI"
    "EewAGAAdABcAIwAAACsABQQDBAMDAAsAAgEAAC0AAgEBAAUABQEAAAAAABcAAAANABwAGgUD"
    "BAMGAwgHCAYIBQgEBgEFAQQBCQQJBQkGABAACwAJCGh0dHAvMS4xAAAADgAMAAAJbG9jYWxo"
    "b3N0ADME6gToEewEwL5jMAMksscMUNoxLM36FicAxQQRX6SxcXirlg9jIft3QOlQk532fqcW"
    "QenRpi7ziBTMXn6bcMq3KojqvxowymXhWY21LcIgfjo5YhwqrLDIHBq5mSLsz4xKL/byguMg"
    "AYBBB/EqtWWTiaeYWm60lLJnDvdXjb96kiGMaibkNr3HNdbYfRL2TvfmFy9nAX9TaKRJSIHT"
    "o7NJToHUHpnxomfZVMrmLIm2G68GD0D3YljVVtzQdcSzlj/Ven+IvCP7qavKmSWnP18jEvEF"
    "EFOBGTZKZTA1cIaFMKApB9XymqQAAX1wdADUihwhCrsCLGTnx2fAvqpGFyS3pTJYnKuwOnpm"
    "yfLHi+A6gTg5LXXGiFzonxnCC6DWzzLVhNY0lbAQPMAhioyLP5AJPmRlE7GKMHYCwPrjOdN7"
    "vcH1FPokFn/QjMkkBA0ArKFJZAUUBWl1YiYUEjlyomeITmFcPbkGohG2GSPziNUDlDL8AZxx"
    "kox1zXHqn3FHrgBzbDNiFbOFKPcYRRLEoZZLfPrXIXI0hrogJFmGnJG5ygYYkfAqdx2HTUyl"
    "KBVQh+WJTPOyGOYpwZ2YNc81AxYwA72YVA6SoFtgYOO6T8CBZADXQnu6pJ52oVQgN+YYaJ5J"
    "hk9ADGlDeBfZq0i7OAGkG/T8X8jxtwJWRt52TDLnfURkm1KXE1GGga4gHdULat+GbeFXnYYn"
    "NQZUYaHgAakRB1unPFXrCjd7Xa/HDf7hDJCiRcnbW/TKuU93uZb1KDfmYHgoecCqWA/YHwXy"
    "kBY8OcpGrYuYt3DrH37lH1tpRrdsvUhACIS4WNlJjnnXE9ZpluYAADykRoOIXIlQSi/6IPi2"
    "t9p2YsCgN++8vQFFCv+VJkfxZoK4Au4cwZFqSHfSgPb4tvawRTLoEGwGQsoLUTcVpi4Eocqi"
    "B6cVNkyTTPnpjiOADHmGC+E1P+XadcaISEiLKgpkKMPxr2eKD5k7KMWByIJDHxgEwUxCBItz"
    "PhD5d80kg+9GYRBkSCWHYys0HuYCEKl1lIWmCnM0PQnMtxVIBc+wJcEbuWEqqVWcMDRYi60l"
    "NRwXVfNToTWRF+7iV1TiLiR0rpJTrA/YQJBkExuMkG9qVOO1w8QpV22hWgaQqvHAuRwgfoKb"
    "DXhzFL93XFTmcvAivchoqfPklQ+kaATJrOYnW/10mZa8UQY4LEmJsr2hzg5yufO7YGBKpMcY"
    "DeBLHXRmb/vEIbKAphPKJk+ZTxx1r6hVoTqMmphiMV/JKpmsX4FxJxsXXLiST5TIVqvHvCEb"
    "hACTx4ysYb2skwFJVKq1R8q8orNLmr1LkYl1rKFsaz/wruYEQUYTP8UAq3D7zrdMl9hwJ/hy"
    "q0pkcU7BM5txqGhXak+riFbxV39ch4NVrKVDQ9alU23nQtZoo0DcRriaS7UKhMQCPp98Qvrz"
    "KlcghnW6zh/EZXdWELrzl0egEByHNd1hkG15IYGLhOSSUswyYv8SM5WaSH3TIfSUFRvqbhtp"
    "FhjcdV3GwsODuUaREAJZoHoEQyhmjj8hbTwAcwk0o4MSvzO6g1UDCVWggc82bXB7xPShCoLa"
    "AAqLze1qz/qacluGCnle5XoKS9D50ace6FKiLXrs8/TKSysU8d4jzQQAHQAgcluGCnle5XoK"
    "S9D50ace6FKiLXrs8/TKSysU8d4jzQQ="
)
w("garbage-real-client-hello", garbage(CLIENT_HELLO))
w("garbage-real-client-hello-split-mutual", garbage(CLIENT_HELLO, mutual=True, by_timeout=True, sizes=(5, 1000, 0)))
w("garbage-alert-record", garbage(b"\x15\x03\x03\x00\x02\x02\x28"))
