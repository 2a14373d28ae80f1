#!/usr/bin/env bash
# e2e on kind (hosts with Docker). Needs: docker, kind, helm, kubectl, and a reachable Ceph
# cluster whose admin identity is given in CEPH_MONITORS and CEPH_ADMIN_KEY (for example a
# Rook cluster in the same kind cluster, or `kovirt ceph up` on the Docker host bound to an
# address the kind nodes reach).
#
#   CEPH_MONITORS=10.0.0.5:6789 CEPH_ADMIN_KEY=AQ... e2e/kind/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${CEPH_MONITORS:?set CEPH_MONITORS}" "${CEPH_ADMIN_KEY:?set CEPH_ADMIN_KEY}"
cluster=${KIND_CLUSTER:-kovirt-e2e}

kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" \
  --config e2e/kind/kind-config.yaml
docker build -t kovirt:e2e .
kind load docker-image kovirt:e2e --name "$cluster"
kubectl create namespace kovirt-system --dry-run=client -o yaml | kubectl apply -f -
kubectl -n kovirt-system create secret generic ceph-admin --from-literal=user=admin \
  --from-literal=key="$CEPH_ADMIN_KEY" --from-literal=monitors="$CEPH_MONITORS" \
  --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install kovirt charts/kovirt -n kovirt-system \
  --set image.repository=kovirt --set image.tag=e2e --set image.pullPolicy=Never --wait
# The same manifests-and-kubectl suite as the local stack, pointed at this cluster.
KOVIRT_E2E_KUBECONFIG="$(kind get kubeconfig-path --name "$cluster" 2>/dev/null || echo "$HOME/.kube/config")" \
  .venv/bin/pytest e2e -k "not local_only" "$@"
