# One image for the kovirt operator and the node agent.
#
# Debian bookworm, because the Ceph (rados, rbd) and libvirt Python bindings exist only as
# Debian packages, not on PyPI; the venv therefore sees the system site packages.
# The Debian packages are exactly packaging/apt-packages.txt, the run-time list (the local
# stack's and the tests' extras are in packaging/apt-packages-dev.txt; scripts/bootstrap
# installs both; tests/unit/test_dockerfile.py keeps them from drifting).
#
# One image, three roles: the operator (as the unprivileged user kovirt, uid 10001: all it
# needs), the node agent and the libvirt pod (kovirt-libvirtd: libvirtd, virtlogd and the
# guests' QEMU). The DaemonSets the operator makes run those two as root: the libvirt pod
# privileged (/dev/kvm, host network), the agent without any capability. tini is PID 1 so
# that libvirtd is not (as PID 1 its QEMU probe children stay zombies and `virsh create`
# hangs).
#
#   docker build -t kovirt:0.1.0 .
#   docker run --rm kovirt:0.1.0 kovirt-operator --help

# --- build the kovirt wheel ------------------------------------------------------------
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kovirt ./kovirt
COPY operator ./operator
COPY node_agent ./node_agent
RUN /build/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------
FROM debian:bookworm-slim
# The package layer first: it changes least, so rebuilds after a code change reuse it.
COPY packaging/apt-packages.txt /tmp/apt-packages.txt
RUN apt-get update \
 && grep -vE '^\s*(#|$)' /tmp/apt-packages.txt \
    | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/apt-packages.txt

RUN python3 -m venv --system-site-packages /opt/kovirt \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/kovirt --create-home kovirt
COPY --from=build /wheels /tmp/wheels
RUN /opt/kovirt/bin/pip install --no-cache-dir /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && /opt/kovirt/bin/python -c 'import rados, rbd, libvirt, kovirt'

ENV PATH=/opt/kovirt/bin:$PATH \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/kovirt
# Operator metrics, operator liveness, agent metrics.
EXPOSE 8080 8081 9474
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["kovirt-operator"]
