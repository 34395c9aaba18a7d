#!/usr/bin/env bash
# TLS for deploy/compose.yaml's broker: a private CA and one certificate for nats-1..3 (clients on
# 4222 and the routes between the nodes, which verify each other), written to DIR (default
# deploy/nats/tls). ca-bundle.crt is that CA plus this host's public roots: the services' trust
# store (SSL_CERT_FILE), so a mail relay's certificate still verifies.
set -euo pipefail
DIR=${1:-"$(dirname "$0")/tls"}
ROOTS=${ROOTS:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$DIR" && cd "$DIR"
umask 077
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 825 \
  -keyout ca.key -out ca.crt -subj "/CN=opendeur NATS CA" 2>/dev/null
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout server.key -out server.csr -subj "/CN=opendeur-nats" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:localhost" \
  "extendedKeyUsage=serverAuth,clientAuth" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile server.ext -out server.crt 2>/dev/null
rm -f server.csr server.ext ca.srl ca.key  # nothing else is ever signed with this CA
cat ca.crt "$ROOTS" > ca-bundle.crt
chmod 644 ca.crt server.crt ca-bundle.crt  # public; server.key stays 600 (nats runs as root)
echo "wrote $DIR/{ca.crt,server.crt,server.key,ca-bundle.crt}"
