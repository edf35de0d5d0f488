# Guest script (run by ../shared/lab/radius-l2tp/pppvm/run.sh): the stock Linux L2TP client,
# xl2tpd 1.3.18 as LAC with a real pppd 2.4.9 (kernel PPP), dialing an LNS on the host.
# slirp maps the host's 127.0.0.1 to 192.0.2.2. Once ppp0 is up it pings the server's
# tunnel address and prints LAB-PING-RESULT.
# env (run.sh GUEST_ENV): LNS_PORT (host UDP port of the LNS), PPP_USER, PPP_PASS, SERVER_IP
ifconfig eth0 192.0.2.15 netmask 255.255.255.0 up
mkdir -p /var/run/xl2tpd /etc/xl2tpd
cat >/etc/xl2tpd/xl2tpd.conf <<C
[global]
port = 1701
access control = no
force userspace = yes

[lac l2sec]
lns = 192.0.2.2:$LNS_PORT
require authentication = no
length bit = yes
autodial = yes
redial = no
name = $PPP_USER
pppoptfile = /etc/ppp/options.l2tpd.client
C
cat >/etc/ppp/options.l2tpd.client <<O
name $PPP_USER
password $PPP_PASS
noauth
refuse-eap
noipdefault
nodefaultroute
lcp-echo-interval 0
mtu 1400
mru 1400
debug
logfile /dev/console
O
echo "LAB-READY xl2tpd LAC -> 192.0.2.2:$LNS_PORT as $PPP_USER"
xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /var/run/xl2tpd.pid -C /var/run/xl2tpd/l2tp-control &
for _ in $(seq 1 600); do
  ifconfig ppp0 2>/dev/null | grep -q "inet addr" && break
  sleep 0.1
done
ifconfig ppp0
ping -c 3 -W 5 "$SERVER_IP"
echo "LAB-PING-RESULT rc=$?"
# Hang up politely: pppd sends LCP Terminate, xl2tpd a CDN.
echo "d l2sec" >/var/run/xl2tpd/l2tp-control
sleep 3
echo "LAB-DONE"
sleep 600
