# LOCAL TEST BASE ONLY — never used by the product Dockerfile's default, never uploaded.
# A Debian bookworm made here by debootstrap (public image registries unreachable), with what the product
# Dockerfile's BASE_IMAGE contract asks for: python3.11 and its venv module on PATH. Outgoing TLS on this kind of
# machine is re-signed by a local CA, so the machine's CA bundle is copied in and named by PIP_CERT for the pip steps
# of the product build; that bundle belongs to this test base, not to the product.
ARG ROOTFS_IMAGE=pdacrad-local/debian-rootfs:bookworm
FROM ${ROOTFS_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && ln -sf /usr/bin/python3.11 /usr/local/bin/python3
COPY host-ca-certificates.crt /usr/local/share/pdacrad-local-ca/ca-certificates.crt
ENV PIP_CERT=/usr/local/share/pdacrad-local-ca/ca-certificates.crt
