# One image for every service: `opendeur serve intake|routing|notify|audit` (and `opendeur migrate`).
# Production: no embedded nats-server or PostgreSQL (the `embedded` extra); both come by URL.
# BASE is any Debian-like image with python3 (3.11+) and its venv module: python:3.11-slim, or
# one built from Debian packages where no registry is reachable (deploy/check.sh does that).
# Runs as uid 10001 with a read-only root file system: it writes only to /tmp and to the volume
# at /var/lib/opendeur (intake's key store, /var/lib/opendeur/intake-keys).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY opendeur ./opendeur
COPY contracts ./contracts
COPY services ./services
# The versions of constraints.txt (the lock the suite passed with); byte-compiled here, since
# nothing can write __pycache__ at run time.
RUN python3 -m venv /opt/opendeur \
    && /opt/opendeur/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/opendeur/bin/python -m compileall -q /opt/opendeur/lib

FROM ${BASE}
ENV PATH=/opt/opendeur/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    OPENDEUR_HOST=0.0.0.0 OPENDEUR_LOG_FORMAT=json \
    OPENDEUR_DATA_DIR=/var/lib/opendeur \
    OPENDEUR_INTAKE_KEYSTORE=file:/var/lib/opendeur/intake-keys
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin opendeur \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/opendeur /var/lib/opendeur/intake-keys
COPY --from=build /opt/opendeur /opt/opendeur
WORKDIR /var/lib/opendeur
USER 10001:10001
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["opendeur"]
CMD ["serve", "intake"]
