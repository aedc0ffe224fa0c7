#!/bin/sh
# Writes the fixed PKI of the tls_glue fuzz target (run once, from fuzz/tls_pki/;
# the PEM files are committed): a CA, a server certificate for `localhost`
# and a client certificate for `alice`, ECDSA P-256, valid 2000..2999 so that
# the replay never meets an expired certificate. Keys per fuzz input would
# be too slow.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/ca.cnf" <<CNF
[ca]
default_ca = fuzz
[fuzz]
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
: > "$tmp/index.txt"
echo 01 > "$tmp/serial"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
dates="-startdate 20000101000000Z -enddate 29991231235959Z"
key ca.key
openssl req -new -key ca.key -subj "/CN=fuzz CA" -out "$tmp/ca.csr"
openssl ca -batch -config "$tmp/ca.cnf" -selfsign -keyfile ca.key $dates -extensions v3_ca \
  -in "$tmp/ca.csr" -out "$tmp/ca.pem" -notext 2>/dev/null
openssl x509 -in "$tmp/ca.pem" -out ca.pem
for who in server:localhost:v3_server alice:alice:v3_client; do
  name=${who%%:*}; rest=${who#*:}; cn=${rest%%:*}; ext=${rest#*:}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$tmp/$name.csr"
  openssl ca -batch -config "$tmp/ca.cnf" -cert ca.pem -keyfile ca.key $dates -extensions "$ext" \
    -in "$tmp/$name.csr" -out "$tmp/$name.pem" -notext 2>/dev/null
  openssl x509 -in "$tmp/$name.pem" -out "$name.pem"
done
rm ca.key
