#!/bin/sh
# Regenerates the test PKI of l2sec-ike's certificate tests (openssl 3). Every
# certificate is valid from 2025-01-01 to 2045-01-01 (the expired one: 2020-2021).
#
#   ca-rsa        RSA-2048 root CA, sha256WithRSAEncryption
#   int-rsa       RSA-2048 intermediate CA (pathlen 0) under ca-rsa
#   server-rsa    RSA-2048 end entity under ca-rsa: DNS server.l2sec.test, IP 192.0.2.2
#   client-rsa    RSA-2048 end entity under ca-rsa: DNS client.l2sec.test, IP 192.0.2.1,
#                 email client@l2sec.test (PKCS#1 key)
#   leaf-int      RSA-2048 end entity under int-rsa (sha384WithRSAEncryption)
#   ca-ecdsa      P-384 root CA, ecdsa-with-SHA384
#   server-ecdsa  P-256 end entity under ca-ecdsa (SEC1 key)
#   client-ecdsa  P-384 end entity under ca-ecdsa
#   expired-rsa   end entity under ca-rsa, expired in 2021
#   bad-issuer    end entity "signed" by server-rsa (not a CA)
#   pss-leaf      end entity under ca-rsa signed with RSASSA-PSS/SHA-256
# Keys are PKCS#8 PEM unless noted.
set -eu
cd "$(dirname "$0")"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
START=20250101000000Z
END=20450101000000Z

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
[int_ext]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
subjectAltName = DNS:server.l2sec.test,IP:192.0.2.2
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
subjectAltName = DNS:client.l2sec.test,IP:192.0.2.1,email:client@l2sec.test
authorityKeyIdentifier = keyid
[leaf_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
subjectAltName = DNS:leaf.l2sec.test
CNF
: > "$T/index.txt"
echo 1000 > "$T/serial"

rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null; }
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" -out "$1.key"; }
# sign NAME SUBJECT ISSUER EXT [START END] [extra ca options]
sign() {
    name=$1 subj=$2 issuer=$3 ext=$4 s=${5:-$START} e=${6:-$END}
    if [ $# -ge 6 ]; then shift 6; else shift $#; fi
    openssl req -new -config "$T/ca.cnf" -key "$name.key" -subj "$subj" -out "$T/$name.csr"
    if [ "$issuer" = self ]; then
        openssl ca -batch -notext -config "$T/ca.cnf" -selfsign -keyfile "$name.key" \
            -startdate "$s" -enddate "$e" -extensions "$ext" -in "$T/$name.csr" -out "$name.pem" "$@" 2>"$T/err" || { cat "$T/err"; exit 1; }
    else
        openssl ca -batch -notext -config "$T/ca.cnf" -cert "$issuer.pem" -keyfile "$issuer.key" \
            -startdate "$s" -enddate "$e" -extensions "$ext" -in "$T/$name.csr" -out "$name.pem" "$@" 2>"$T/err" || { cat "$T/err"; exit 1; }
    fi
}

rsa_key ca-rsa
sign ca-rsa "/C=CH/O=l2sec test/CN=l2sec RSA CA" self ca_ext
rsa_key int-rsa
sign int-rsa "/C=CH/O=l2sec test/CN=l2sec RSA Intermediate" ca-rsa int_ext
rsa_key server-rsa
sign server-rsa "/C=CH/O=l2sec test/CN=server.l2sec.test" ca-rsa server_ext
rsa_key client-rsa
sign client-rsa "/C=CH/O=l2sec test/CN=client.l2sec.test" ca-rsa client_ext
openssl rsa -in client-rsa.key -traditional -out client-rsa.key 2>/dev/null
rsa_key leaf-int
sign leaf-int "/C=CH/O=l2sec test/CN=leaf.l2sec.test" int-rsa leaf_ext "$START" "$END" -md sha384
ec_key ca-ecdsa P-384
sign ca-ecdsa "/C=CH/O=l2sec test/CN=l2sec ECDSA CA" self ca_ext "$START" "$END" -md sha384
ec_key server-ecdsa P-256
sign server-ecdsa "/C=CH/O=l2sec test/CN=server.l2sec.test" ca-ecdsa server_ext "$START" "$END" -md sha384
openssl ec -in server-ecdsa.key -out server-ecdsa.key 2>/dev/null
ec_key client-ecdsa P-384
sign client-ecdsa "/C=CH/O=l2sec test/CN=client.l2sec.test" ca-ecdsa client_ext "$START" "$END" -md sha384
rsa_key expired-rsa
sign expired-rsa "/C=CH/O=l2sec test/CN=expired.l2sec.test" ca-rsa leaf_ext 20200101000000Z 20210101000000Z
rsa_key bad-issuer
sign bad-issuer "/C=CH/O=l2sec test/CN=bad.l2sec.test" server-rsa leaf_ext
rsa_key pss-leaf
sign pss-leaf "/C=CH/O=l2sec test/CN=pss.l2sec.test" ca-rsa leaf_ext "$START" "$END" \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
for f in *.pem; do openssl x509 -in "$f" -outform DER -out "${f%.pem}.der"; done
openssl pkcs8 -topk8 -nocrypt -in server-rsa.key -outform DER -out server-rsa.key.der
# IKEv1 RSA signature vector: PKCS#1 v1.5 type 1 around a raw 20-byte hash, no DigestInfo.
printf '\000\021\042\063\104\125\146\167\210\231\252\273\314\335\356\377\000\021\042\063' > "$T/h.bin"
openssl pkeyutl -sign -inkey server-rsa.key -pkeyopt rsa_padding_mode:pkcs1 -in "$T/h.bin" -out server-rsa.ikev1-sig.bin
# ECDSA over the same 20-byte value (shorter than the curve order: used as an integer).
openssl pkeyutl -sign -inkey server-ecdsa.key -in "$T/h.bin" -out server-ecdsa.short-digest-sig.der
openssl pkeyutl -sign -inkey client-ecdsa.key -in "$T/h.bin" -out client-ecdsa.short-digest-sig.der
echo "regenerated: $(ls *.pem | tr '\n' ' ')"
