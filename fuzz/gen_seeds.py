#!/usr/bin/env python3
"""Writes the named seeds of fuzz/corpus/<target>/ (valid requests of every kind,
each rejection class of PROTOCOLS.md section 1, chunked bodies with extensions
and trailers). Usage: python3 gen_seeds.py corpus   (from fuzz/). Input layouts
are described at the top of checks.rs. After `cargo fuzz cmin`, run it again to
put back the seeds under their names."""
import os, sys
root = sys.argv[1]
def w(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f: f.write(data)

REQ = (b"GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
 b"Host: www.kittyhell.com\r\n"
 b"User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
 b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
 b"Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
 b"Accept-Encoding: gzip,deflate\r\n"
 b"Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
 b"Keep-Alive: 115\r\n"
 b"Connection: keep-alive\r\n"
 b"Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral|padding=under256\r\n\r\n")
assert len(REQ) == 720
REQ_SHORT = b"GET / HTTP/1.0\r\nHost: example.com\r\nCookie: session=60; user_id=1\r\n\r\n"
assert len(REQ_SHORT) == 68

def req(line, *fields, body=b""):
    return line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body

H = b"Host: example.com"
CHUNKED_BODY = b"5;name=value;q=\"quo\\\"ted\"\r\nhello\r\n1A\r\n" + b"x" * 26 + b"\r\n0;last\r\nX-Trailer: t1\r\nX-Other:\tv 2 \r\n\r\n"

# ---- http_request: ctl byte + stream --------------------------------------
valid = {
 "get-simple": req(b"GET / HTTP/1.1", H),
 "get-query": req(b"GET /a/b?c=d&e=%20f HTTP/1.1", H, b"Accept: */*"),
 "get-absolute-form": req(b"GET http://example.com:8080/p?q HTTP/1.1", H),
 "connect-authority": req(b"CONNECT example.com:443 HTTP/1.1", b"Host: example.com:443"),
 "options-asterisk": req(b"OPTIONS * HTTP/1.1", H),
 "head": req(b"HEAD /index.html HTTP/1.1", H),
 "post-content-length": req(b"POST /up HTTP/1.1", H, b"Content-Length: 11", body=b"hello world"),
 "post-content-length-list": req(b"POST /up HTTP/1.1", H, b"Content-Length: 5, 5", body=b"hello"),
 "post-content-length-zero": req(b"POST /up HTTP/1.1", H, b"Content-Length: 0"),
 "post-chunked-ext-trailers": req(b"POST /c HTTP/1.1", H, b"Transfer-Encoding: chunked", body=CHUNKED_BODY),
 "post-chunked-list-te": req(b"POST /c HTTP/1.1", H, b"Transfer-Encoding: , chunked", body=b"3\r\nabc\r\n0\r\n\r\n"),
 "http10-no-host": req(b"GET /old HTTP/1.0"),
 "http10-keep-alive-pipelined": req(b"GET /1 HTTP/1.0", b"Connection: keep-alive") + req(b"GET /2 HTTP/1.0"),
 "connection-close-then-more": req(b"GET / HTTP/1.1", H, b"Connection: close") + req(b"GET /ignored HTTP/1.1", H),
 "pipelined-three": req(b"GET /1 HTTP/1.1", H) + req(b"HEAD /2 HTTP/1.1", H) + req(b"GET /3 HTTP/1.1", H, b"Connection: close"),
 "pipelined-chunked-then-get": req(b"POST /c HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"4\r\nwiki\r\n0\r\n\r\n") + req(b"GET /after HTTP/1.1", H),
 "expect-continue": req(b"PUT /f HTTP/1.1", H, b"Expect: 100-continue", b"Content-Length: 4", body=b"data"),
 "leading-empty-lines": b"\r\n\r\n" + req(b"GET / HTTP/1.1", H),
 "ows-and-tabs": req(b"GET / HTTP/1.1", b"Host:\t example.com \t", b"X-Empty:", b"X-Spaces:   a  b   "),
 "host-empty": req(b"GET / HTTP/1.1", b"Host:"),
 "host-ipv6": req(b"GET / HTTP/1.1", b"Host: [::1]:8080"),
 "http12-as-11": req(b"GET / HTTP/1.2", H),
 "method-token": req(b"M-SEARCH /upnp HTTP/1.1", H),
 "method-propfind": req(b"PROPFIND /dav/ HTTP/1.1", H, b"Depth: 1"),
 "obs-text-value": req(b"GET / HTTP/1.1", H, b"X-Latin: caf\xe9 \x80\xff"),
 "eight-fields": req(b"GET / HTTP/1.1", H, *[b"X-%d: %d" % (i, i) for i in range(7)]),
 "req-short": REQ_SHORT,
}
rejects = {
 "rej-request-line-no-version": b"GET /\r\n\r\n",
 "rej-request-line-double-space": req(b"GET  / HTTP/1.1", H),
 "rej-request-line-tab": req(b"GET\t/ HTTP/1.1", H),
 "rej-method-bad-token": req(b"G(T / HTTP/1.1", H),
 "rej-method-empty": req(b" / HTTP/1.1", H),
 "rej-target-del": req(b"GET /a\x7fb HTTP/1.1", H),
 "rej-target-no-scheme": req(b"GET example.com HTTP/1.1", H),
 "rej-target-asterisk-get": req(b"GET * HTTP/1.1", H),
 "rej-target-asterisk-msearch": req(b"M-SEARCH * HTTP/1.1", H),
 "rej-target-connect-origin": req(b"CONNECT /x HTTP/1.1", H),
 "rej-version-lowercase": req(b"GET / http/1.1", H),
 "rej-version-junk": req(b"GET / HTTP/1.1x", H),
 "rej-505-http2": req(b"GET / HTTP/2.0", H),
 "rej-bare-cr-field": req(b"GET / HTTP/1.1", H, b"X: a\rb"),
 "rej-bare-cr-line": b"GET / HTTP/1.1\r" + H + b"\r\n\r\n",
 "rej-bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
 "rej-nul-value": req(b"GET / HTTP/1.1", H, b"X: a\x00b"),
 "rej-nul-target": req(b"GET /\x00 HTTP/1.1", H),
 "rej-field-name-bad": req(b"GET / HTTP/1.1", H, b"X(y): 1"),
 "rej-field-name-empty": req(b"GET / HTTP/1.1", H, b": v"),
 "rej-field-no-colon": req(b"GET / HTTP/1.1", H, b"NoColon"),
 "rej-space-before-colon": req(b"GET / HTTP/1.1", b"Host : example.com"),
 "rej-field-value-ctl": req(b"GET / HTTP/1.1", H, b"X: a\x01b"),
 "rej-obs-fold": req(b"GET / HTTP/1.1", H, b"X: a", b" folded"),
 "rej-ws-after-start-line": req(b"GET / HTTP/1.1", b" " + H),
 "rej-missing-host": req(b"GET / HTTP/1.1", b"Accept: */*"),
 "rej-duplicate-host": req(b"GET / HTTP/1.1", H, b"host: other"),
 "rej-bad-host": req(b"GET / HTTP/1.1", b"Host: local host"),
 "rej-cl-not-digits": req(b"POST / HTTP/1.1", H, b"Content-Length: abc"),
 "rej-cl-plus": req(b"POST / HTTP/1.1", H, b"Content-Length: +5", body=b"hello"),
 "rej-cl-overflow": req(b"POST / HTTP/1.1", H, b"Content-Length: 99999999999999999999"),
 "rej-cl-conflict-list": req(b"POST / HTTP/1.1", H, b"Content-Length: 5, 6", body=b"hello"),
 "rej-cl-conflict-lines": req(b"POST / HTTP/1.1", H, b"Content-Length: 5", b"Content-Length: 6", body=b"hello"),
 "rej-cl-empty": req(b"POST / HTTP/1.1", H, b"Content-Length:"),
 "rej-cl-and-te": req(b"POST / HTTP/1.1", H, b"Content-Length: 3", b"Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\n\r\n"),
 "rej-te-chunked-not-last": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked, gzip"),
 "rej-te-chunked-twice": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"),
 "rej-te-chunked-param": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked;q=1"),
 "rej-te-empty": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: ,"),
 "rej-te-http10": req(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
 "rej-501-te-gzip": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: gzip"),
 "rej-chunk-size-not-hex": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"zz\r\n"),
 "rej-chunk-size-empty": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"\r\nabc\r\n"),
 "rej-chunk-size-overflow": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"1ffffffffffffffff\r\n"),
 "rej-chunk-size-0x": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"0x5\r\nhello\r\n0\r\n\r\n"),
 "rej-chunk-ext-bad": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"5;=x\r\nhello\r\n0\r\n\r\n"),
 "rej-chunk-ext-unbalanced-quote": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"5;a=\"x\r\nhello\r\n0\r\n\r\n"),
 "rej-chunk-ext-too-long": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"5;" + b"e" * 40 + b"\r\nhello\r\n0\r\n\r\n"),
 "rej-chunk-bad-end": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"5\r\nhelloXX0\r\n\r\n"),
 "rej-chunk-bare-lf": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"5\nhello\r\n0\r\n\r\n"),
 "rej-trailer-obs-fold": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"0\r\nT: a\r\n b\r\n\r\n"),
 "rej-trailer-bare-lf": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"0\r\nT: a\n\r\n"),
 "rej-413-content-length": req(b"POST / HTTP/1.1", H, b"Content-Length: 1000"),
 "rej-413-chunked-total": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"80\r\n" + b"a" * 128 + b"\r\n81\r\n"),
 "rej-414-target": req(b"GET /" + b"a" * 70 + b" HTTP/1.1", H),
 "rej-414-target-partial": b"GET /" + b"b" * 200,
 "rej-431-head": req(b"GET / HTTP/1.1", H, b"X-Big: " + b"v" * 520),
 "rej-431-fields": req(b"GET / HTTP/1.1", H, *[b"X-%d: %d" % (i, i) for i in range(8)]),
 "rej-431-trailer": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"0\r\nT: " + b"t" * 520 + b"\r\n\r\n"),
 "rej-truncated-head": b"GET /partial HTTP/1.1\r\nHost: exa",
 "rej-truncated-body": req(b"POST / HTTP/1.1", H, b"Content-Length: 10", body=b"only5"),
 "rej-truncated-chunked": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: chunked", body=b"5\r\nhel"),
 "rej-after-valid": req(b"GET /ok HTTP/1.1", H) + req(b"GET /bad HTTP/1.1"),
 "rej-tls-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
}
i = 0
for name, stream in list(valid.items()) + list(rejects.items()):
    # even control byte: EOF at the end; the cut varies with the name's index
    ctl = ((i * 37) % 128) << 1
    w("http_request", name, bytes([ctl]) + stream)
    i += 1
# the 408s: the clock jumps while a head or a body is incomplete
w("http_request", "timeout-408-head", bytes([0x41]) + b"GET /slow HTTP/1.1\r\nHo")
w("http_request", "timeout-408-body", bytes([0x21]) + req(b"POST / HTTP/1.1", H, b"Content-Length: 10", body=b"abc"))
w("http_request", "timeout-idle-close", bytes([0x01]) + req(b"GET / HTTP/1.1", H))

# ---- http_differential: a request head as is ------------------------------
diff = {
 "req": REQ, "req-short": REQ_SHORT,
 "get-simple": req(b"GET / HTTP/1.1", H),
 "absolute-form": req(b"GET http://example.com/x?y=z HTTP/1.1", H),
 "connect": req(b"CONNECT example.com:443 HTTP/1.1", b"Host: example.com:443"),
 "options-asterisk": req(b"OPTIONS * HTTP/1.1", H),
 "http10": req(b"GET / HTTP/1.0"),
 "http19": req(b"GET / HTTP/1.9", H),
 "leading-crlf": b"\r\n" + req(b"GET / HTTP/1.1", H),
 "ows": req(b"POST /p HTTP/1.1", b"Host:  example.com  ", b"Content-Length:\t3\t", b"X-Empty:", b"X-Tab: a\tb"),
 "obs-text": req(b"GET / HTTP/1.1", H, b"X: \x80\xfe\xff"),
 "many-fields": req(b"GET / HTTP/1.1", H, *[b"X-Field-%d: value %d" % (i, i) for i in range(40)]),
 "chunked": req(b"POST / HTTP/1.1", H, b"Transfer-Encoding: gzip-not, chunked".replace(b"gzip-not, ", b"")),
 "tokens": req(b"M!#$%&'*+-.^_`|~9 /~!$&'()*+,;=:@?/ HTTP/1.1", H, b"!#$%&'*+-.^_`|~: x"),
 "with-body": req(b"POST / HTTP/1.1", H, b"Content-Length: 5", body=b"hello"),
 "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
 "obs-fold": req(b"GET / HTTP/1.1", H, b"X: a", b" b"),
 "partial": b"GET / HTTP/1.1\r\nHost: a\r\n",
}
for name, data in diff.items():
    w("http_differential", name, data)

# ---- http_chunked: seed byte + body --------------------------------------
ch = {
 "simple": b"5\r\nhello\r\n0\r\n\r\n",
 "ext-and-trailers": CHUNKED_BODY,
 "two-chunks-upper-hex": b"A\r\n0123456789\r\n1F\r\n" + b"y" * 31 + b"\r\n0\r\n\r\n",
 "leading-zeros": b"0005\r\nhello\r\n000\r\n\r\n",
 "bws-ext": b"5 \t; a = b ; c=\"d e\"\r\nhello\r\n0 ;z\r\n\r\n",
 "quoted-escape": b"3;q=\"a\\\"b\\\\\"\r\nabc\r\n0\r\n\r\n",
 "next-request": b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
 "trailers-many": b"0\r\nA: 1\r\nB: 2\r\nC:\r\n\r\n",
 "empty-body": b"0\r\n\r\n",
 "exact-max-body": b"100\r\n" + b"m" * 256 + b"\r\n0\r\n\r\n",
 "incomplete-data": b"10\r\nonly-part",
 "incomplete-trailer": b"0\r\nTrailer: partial",
 "err-overflow": b"10000000000000000\r\n",
 "err-too-many-digits": b"0" * 70 + b"1\r\n",
 "err-not-hex": b"g\r\n",
 "err-empty-size": b"\r\n",
 "err-bare-lf": b"5\nhello\r\n",
 "err-bare-cr": b"5\rhello\r\n",
 "err-ext-empty-name": b"5;\r\nhello\r\n0\r\n\r\n",
 "err-ext-bad-value": b"5;a=\x01\r\nhello\r\n",
 "err-ext-too-long": b"1;" + b"n" * 40 + b"\r\nx\r\n0\r\n\r\n",
 "err-ext-sum-too-long": b"1;aaaaaaaaaaaaaaa\r\nx\r\n1;bbbbbbbbbbbbbbbbbbb\r\ny\r\n0\r\n\r\n",
 "err-data-no-crlf": b"3\r\nabcdef\r\n",
 "err-data-cr-only": b"3\r\nabc\r0\r\n\r\n",
 "err-body-too-large": b"101\r\n",
 "err-body-total-too-large": b"80\r\n" + b"a" * 128 + b"\r\n80\r\n" + b"b" * 128 + b"\r\n1\r\n",
 "err-trailer-obs-fold": b"0\r\nA: 1\r\n folded\r\n\r\n",
 "err-trailer-bad-name": b"0\r\nA B: 1\r\n\r\n",
 "err-trailer-bare-lf": b"0\r\nA: 1\n\r\n",
 "err-trailer-too-many": b"0\r\n" + b"".join(b"T%d: v\r\n" % i for i in range(9)) + b"\r\n",
 "err-trailer-too-large": b"0\r\nT: " + b"t" * 600 + b"\r\n\r\n",
 "err-space-in-size": b"5 5\r\nhello\r\n",
 "err-negative": b"-5\r\nhello\r\n",
}
for i, (name, body) in enumerate(ch.items()):
    w("http_chunked", name, bytes([(i * 53) & 0xff]) + body)

# ---- chat_frames: seed byte + stream; chat_message: bytes as is -----------
# (layouts in chat_checks.rs; the splitter there has max_frame 256, depth 8)
def say(text):
    return b'{"content":"' + text + b'"}'
chat = {
 "join": b'{"username":"carol"}',
 "say": say(b"hello"),
 "say-to": b'{"content":"psst","to":["alice","nobody","alice"]}',
 "list": b'{"list":true}',
 "list-false": b'{"list":false}',
 "empty-object": b"{}",
 "keys-any-order": b'{ "to" : [ "bob" ] , "content" : "x" }',
 "braces-in-string": say(b"}{ }} {{ \\\" \\\\"),
 "escapes": say(b"\\n\\t\\u0000\\u00e9\\ud83d\\ude00\\/\\b\\f\\r"),
 "multibyte-utf8": "{\"content\":\"zo\u00eb \u20ac \U0001f600 \u4e2d\u6587\"}".encode(),
 "name-multibyte": "{\"username\":\"zo\u00eb\"}".encode(),
 "name-control": b'{"username":"a\\tb"}',
 "name-too-long": b'{"username":"' + b"n" * 40 + b'"}',
 "name-taken": b'{"username":"alice"}',
 "rename": b'{"username":"c"}{"username":"d"}',
 "coalesced": b'{"username":"c"}{"content":"one"}{"list":true}{"content":"two","to":["bob"]}',
 "ndjson": b'{"username":"c"}\n{"content":"one"}\r\n{"list":true}\n\t {"content":"x"}\n',
 "partial-tail": b'{"content":"complete"}{"content":"unfin',
 "partial-escape": b'{"content":"ends in \\',
 "not-utf8": b'{"content":"\xff\xfe"}',
 "overlong-utf8": b'{"content":"\xc0\xaf"}',
 "garbage": b"hello world\n",
 "array-top": b"[1,2,3]",
 "between-objects": b'{"list":true} x {"list":true}',
 "null-field": b'{"content":null}',
 "unknown-key": b'{"content":"a","x":1}',
 "duplicate-key": b'{"content":"a","content":"b"}',
 "to-empty": b'{"content":"a","to":[]}',
 "to-alone": b'{"to":["bob"]}',
 "two-kinds": b'{"username":"a","list":true}',
 "bad-json-inside": b'{"content": nope}',
 "trailing-comma": b'{"content":"a",}',
 "nested-depth-8": b'{"a":' * 7 + b"{}" + b"}" * 7,
 "nested-depth-9": b'{"a":' * 8 + b"{}" + b"}" * 8,
 "nested-deep": b"{" * 100 + b"}" * 100,
 "nested-brackets": b'{"a":' + b"[" * 200 + b"]" * 200 + b"}",
 "frame-256": say(b"a" * 242),
 "frame-257": say(b"a" * 243),
 "over-long": say(b"b" * 1500),
 "list-flood": b'{"list":true}' * 60,
 "say-flood": (say(b"m" * 200) + b"\n") * 30,
 "only-whitespace": b" \r\n\t ",
 "empty": b"",
}
for i, (name, body) in enumerate(chat.items()):
    w("chat_frames", name, bytes([(i * 37 + 11) & 0xff]) + body)
    w("chat_message", name, body)
