#!/bin/sh
# Regenerates the test PKI of the VPN's certificate tests (openssl 3). Valid from
# 2025-01-01 to 2045-01-01.
#
#   ca          RSA-2048 root CA "l2sec VPN test CA"
#   server      RSA-2048 server under ca: DNS vpn.l2sec.test, IP 127.0.0.1
#   client      RSA-2048 client under ca: DNS alice.l2sec.test, email alice@l2sec.test
#   other-ca    P-256 root CA "l2sec other CA" (the server does not trust it)
#   other-client RSA-2048 client under other-ca: DNS mallory.l2sec.test (RSA like the
#               server, so that IKEv1 agrees on the method and the CA check refuses it)
# Keys are PKCS#8 PEM.
set -eu
cd "$(dirname "$0")"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat > "$T/ca.cnf" <<CNF
[ca]
default_ca = l2sec
[l2sec]
database = $T/index.txt
new_certs_dir = $T
serial = $T/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
countryName = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
subjectAltName = DNS:vpn.l2sec.test,IP:127.0.0.1
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
subjectAltName = DNS:alice.l2sec.test,email:alice@l2sec.test
authorityKeyIdentifier = keyid
[other_client_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
subjectAltName = DNS:mallory.l2sec.test
authorityKeyIdentifier = keyid
CNF
: > "$T/index.txt"
echo 1000 > "$T/serial"
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null; }
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
# sign NAME SUBJECT ISSUER EXT
sign() {
    openssl req -new -config "$T/ca.cnf" -key "$1.key" -subj "$2" -out "$T/$1.csr"
    if [ "$3" = self ]; then set -- "$@" -selfsign -keyfile "$1.key"; else set -- "$@" -cert "$3.pem" -keyfile "$3.key"; fi
    name=$1 ext=$4
    shift 4
    openssl ca -batch -notext -config "$T/ca.cnf" "$@" -startdate 20250101000000Z -enddate 20450101000000Z \
        -extensions "$ext" -in "$T/$name.csr" -out "$name.pem" 2>"$T/err" || { cat "$T/err"; exit 1; }
}
rsa_key ca
sign ca "/C=CH/O=l2sec test/CN=l2sec VPN test CA" self ca_ext
rsa_key server
sign server "/C=CH/O=l2sec test/CN=vpn.l2sec.test" ca server_ext
rsa_key client
sign client "/C=CH/O=l2sec test/CN=alice.l2sec.test" ca client_ext
ec_key other-ca
sign other-ca "/C=CH/O=l2sec test/CN=l2sec other CA" self ca_ext
rsa_key other-client
sign other-client "/C=CH/O=l2sec test/CN=mallory.l2sec.test" other-ca other_client_ext
echo "regenerated: $(ls *.pem | tr '\n' ' ')"
