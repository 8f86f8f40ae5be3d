#!/usr/bin/env bash
# Install helm v3 (for the chart tests and for operators) from the Go module proxy,
# once, into ${DSA110_TOOLS:-$HOME/.cache/dsa110-stream/bin}; print the binary's path.
# Needs Go >= 1.24. Compiling helm takes a few minutes on 2 cores; a second run with the
# right version already installed returns at once.
#   scripts/install-helm.sh                         # prints .../dsa110-stream/bin/helm
#   HELM_VERSION=v3.21.4 scripts/install-helm.sh
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}
TOOLS=${DSA110_TOOLS:-$HOME/.cache/dsa110-stream/bin}
HELM=$TOOLS/helm
MODULE=helm.sh/helm/v3

installed_version() {
  # `helm version --template` prints e.g. v3.22.0; nothing if the binary is absent/broken.
  if [[ -x $HELM ]]; then
    "$HELM" version --template '{{.Version}}' 2>/dev/null || true
  fi
}

if [[ $(installed_version) == "$HELM_VERSION" ]]; then
  echo "$HELM"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "install-helm: 'go' is not on PATH; install Go >= 1.24 (or put helm $HELM_VERSION at $HELM)" >&2
  exit 1
fi

mkdir -p "$TOOLS"
echo "install-helm: building helm $HELM_VERSION with $(go version | cut -d' ' -f3) into $TOOLS (takes minutes)" >&2

# A plain `go install` would leave out what helm's Makefile stamps in with -ldflags: its
# own version (else `helm version` says v3.x-unreleased) and the Kubernetes version that
# `helm template`/`helm lint` assume (else 1.20). Both as in the release build: the
# Kubernetes version is 1.<minor of the client-go module helm depends on>.
go_mod=$(go mod download -json "$MODULE@$HELM_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')
client_go=$(sed -n 's/^\s*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$go_mod" | head -n1)
if [[ -z $client_go ]]; then
  echo "install-helm: cannot find the client-go version in $go_mod" >&2
  exit 1
fi
ldflags="-s -w -X $MODULE/internal/version.version=$HELM_VERSION"
for pkg in pkg/chartutil pkg/lint/rules; do
  ldflags+=" -X $MODULE/$pkg.k8sVersionMajor=1 -X $MODULE/$pkg.k8sVersionMinor=$client_go"
done
GOBIN=$TOOLS CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$MODULE/cmd/helm@$HELM_VERSION"

got=$(installed_version)
if [[ $got != "$HELM_VERSION" ]]; then
  echo "install-helm: built $HELM but it reports version '$got', expected $HELM_VERSION" >&2
  exit 1
fi
echo "$HELM"
