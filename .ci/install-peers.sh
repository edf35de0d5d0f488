#!/usr/bin/env bash
# Installs the real peers and decoding oracles the interop tests talk to, plus the
# Python packages the independent ESP implementation comes from. Idempotent.
set -euo pipefail
pkgs=(tshark strongswan-charon strongswan-swanctl libcharon-extra-plugins libcharon-extauth-plugins
      libstrongswan-standard-plugins libstrongswan-extra-plugins iputils-ping nftables iproute2
      freeradius freeradius-utils xl2tpd ppp
      qemu-system-x86 busybox-static cpio)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts daemons on install where it can; the tests run private instances.
for svc in freeradius xl2tpd strongswan-starter ipsec; do
  (service "$svc" stop || true) >/dev/null 2>&1
done
python3 -c 'import scapy, cryptography' 2>/dev/null || python3 -m pip install -q scapy cryptography
