#!/usr/bin/env python3
"""Independent ESP implementation for l2sec's interop test: scapy's IPsec module.

Reads a JSON job on stdin: a list of SAs, each with its algorithms, keys, mode, ESN
setting, packets for scapy to seal, and l2sec-sealed ESP packets for scapy to open.
Writes a JSON answer on stdout: what scapy sealed, and what it recovered from l2sec's.
"""
import json
import sys

from scapy.all import IP, UDP, Raw, raw
from scapy.layers import ipsec
from scapy.layers.ipsec import ESP, SecurityAssociation

# The 96-bit truncation of HMAC-SHA2-256 that pre-RFC 4868 peers use; scapy lacks it.
ipsec.AUTH_ALGOS["SHA2-256-96"] = ipsec.AuthAlgo(
    "SHA2-256-96", mac=ipsec.HMAC, digestmod=ipsec.hashes.SHA256, icv_size=12
)

SRC, DST = "192.0.2.1", "192.0.2.2"
OUTER = IP(src="198.51.100.1", dst="198.51.100.2")


def make_sa(s):
    return SecurityAssociation(
        ESP,
        spi=s["spi"],
        crypt_algo=s["crypt"],
        crypt_key=bytes.fromhex(s["ckey"]),
        auth_algo=s["auth"],
        auth_key=bytes.fromhex(s["akey"]) if s["akey"] else None,
        tunnel_header=OUTER if s["mode"] == "tunnel" else None,
        esn_en=s["esn"],
        esn=s["esn_high"],
    )


def inner_packet(marker):
    return IP(src=SRC, dst=DST) / UDP(sport=1701, dport=1701) / Raw(marker)


def run(s):
    sa = make_sa(s)
    out = {"sealed": [], "opened": []}
    for i, seq in enumerate(s["seal_seqs"]):
        marker = ("scapy %s #%d" % (s["name"], i)).encode()
        pkt = inner_packet(marker)
        pkt = IP(raw(pkt))  # fill in lengths and checksums
        enc = sa.encrypt(pkt, seq_num=seq, esn_en=s["esn"], esn=s["esn_high"])
        whole = raw(enc)
        ihl = (whole[0] & 0x0F) * 4
        if s["mode"] == "tunnel":
            payload, nh = raw(pkt), 4
        else:
            payload, nh = raw(pkt)[20:], 17
        out["sealed"].append({"esp": whole[ihl:].hex(), "payload": payload.hex(), "next_header": nh})
    for h in s["open"]:
        outer = IP(src=SRC, dst=DST, proto=50) / Raw(bytes.fromhex(h))
        outer = IP(raw(outer))
        dec = sa.decrypt(outer, esn_en=s["esn"], esn=s["esn_high"])
        whole = raw(dec)
        if s["mode"] == "tunnel":
            out["opened"].append({"payload": whole.hex(), "next_header": 4})
        else:
            out["opened"].append({"payload": whole[20:].hex(), "next_header": dec.proto})
    return out


def main():
    job = json.load(sys.stdin)
    json.dump({"sas": [run(s) for s in job["sas"]]}, sys.stdout)


if __name__ == "__main__":
    main()
