# Guest script for l2sec's interop test: real pppd 2.4.9 on /dev/ttyS1 as the PEER
# (authenticatee), once per round in $ROUNDS, with USER/PASS. It asks for DNS servers
# (usepeerdns) and accepts the address it is given.
USER=${USER:-alice}; PASS=${PASS:-alicepass}; ROUNDS=${ROUNDS:-1 2 3}
printf '%s\t*\t%s\t*\n' "$USER" "$PASS" >/etc/ppp/pap-secrets
cp /etc/ppp/pap-secrets /etc/ppp/chap-secrets; chmod 600 /etc/ppp/*-secrets
echo "LAB-READY pppd peer loop (user $USER)"
for R in $ROUNDS; do
  echo "LAB-SESSION-START $R"
  pppd /dev/ttyS1 115200 local nodetach debug logfd 1 noauth user "$USER" remotename '*' \
    noipdefault ipcp-accept-local ipcp-accept-remote usepeerdns nodefaultroute \
    lcp-echo-interval 1 lcp-echo-failure 3 noccp maxfail 1 holdoff 0 nopersist
  echo "LAB-PPPD-EXIT $R $?"
  sleep 1
done
echo "LAB-LOOP-DONE"
