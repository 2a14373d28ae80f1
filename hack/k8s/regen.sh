#!/usr/bin/env bash
# Re-pin the Kubernetes control-plane module: hack/k8s/regen.sh v1.34.5
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/client-go, ...) with
# ./staging/... paths, which do not exist outside its repository. A module that requires
# it must replace each of them with the published v0.<minor>.<patch> tag instead. The list
# is read from the downloaded go.mod rather than typed, so a new staging module is not
# missed. Then `go mod tidy` fills in the rest. Afterwards run `kovirt controlplane build`.
set -euo pipefail
version=${1:?usage: $0 vX.Y.Z}
cd "$(dirname "$0")"
staging_version="v0.${version#v1.}"

gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -n "$gomod" ] || { echo "could not download k8s.io/kubernetes@${version}" >&2; exit 1; }
modules=$(sed -n 's#^\s*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod" | sort -u)
[ -n "$modules" ] || { echo "no staging replaces found in $gomod" >&2; exit 1; }

{
  echo "// Pinned Kubernetes control-plane binaries for kovirt's local stack."
  echo "// Regenerate with hack/k8s/regen.sh when bumping the version."
  echo "module kovirt.io/hack/k8s"
  echo
  echo "go $(sed -n 's/^go \(.*\)/\1/p' "$gomod")"
  echo
  echo "require k8s.io/kubernetes ${version}"
  echo
  echo "replace ("
  for module in $modules; do
    printf '\t%s => %s %s\n' "$module" "$module" "$staging_version"
  done
  echo ")"
} > go.mod
go mod tidy
echo "pinned k8s.io/kubernetes ${version} with $(echo "$modules" | wc -l) staging modules at ${staging_version}"
