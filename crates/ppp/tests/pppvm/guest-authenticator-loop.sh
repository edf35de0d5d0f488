# Guest script for l2sec's interop test (passed to the lab's pppvm/run.sh): real pppd 2.4.9
# on /dev/ttyS1 as the AUTHENTICATOR, once per method in $METHODS, so one boot serves
# several sessions. Users as in the lab: alice/alicepass, msuser/mspass. The peer gets
# 192.0.2.10 and DNS 192.0.2.53; pppd answers LCP Echo-Requests.
METHODS=${METHODS:-require-pap require-chap require-mschap-v2}
printf 'alice\t*\talicepass\t*\nmsuser\t*\tmspass\t*\n' >/etc/ppp/pap-secrets
cp /etc/ppp/pap-secrets /etc/ppp/chap-secrets
chmod 600 /etc/ppp/*-secrets
echo "LAB-READY pppd authenticator loop: $METHODS"
for AUTH in $METHODS; do
  echo "LAB-SESSION-START $AUTH"
  pppd /dev/ttyS1 115200 local nodetach debug logfd 1 noipdefault $AUTH name lab-pppd \
    192.0.2.1:192.0.2.10 ms-dns 192.0.2.53 lcp-echo-interval 0 nodefaultroute noproxyarp \
    noccp maxfail 1 passive holdoff 0 nopersist
  echo "LAB-PPPD-EXIT $AUTH $?"
done
echo "LAB-LOOP-DONE"
