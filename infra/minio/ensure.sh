#!/usr/bin/env bash
# infra/minio/ensure.sh
# Prints the path of a MinIO server binary, building it once with `go install` into ~/.cache/btc-ts/.
set -euo pipefail

PINNED_COMMIT=7aac2a2c5b7c882e68c1ce017d8256be2feea27f
# The same commit as a Go pseudo-version: some module proxies resolve only this form.
PINNED_PSEUDO=v0.0.0-20260212201848-7aac2a2c5b7c
CACHE_DIR="${BTC_TS_CACHE_DIR:-$HOME/.cache/btc-ts}"
BIN_DIR="$CACHE_DIR/gobin"
BIN="$BIN_DIR/minio"

if [[ -n "${BTC_TS_MINIO_BIN:-}" && -x "${BTC_TS_MINIO_BIN}" ]]; then
  echo "$BTC_TS_MINIO_BIN"; exit 0
fi
if [[ -x "$BIN" ]]; then
  echo "$BIN"; exit 0
fi

GO="$(command -v go || true)"
[[ -z "$GO" && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
if [[ -z "$GO" ]]; then
  echo "ensure.sh: Go is not installed; install Go (https://go.dev/dl) or set BTC_TS_MINIO_BIN to a minio binary" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
# Serialise concurrent first builds (parallel test workers, two terminals).
exec 9>"$CACHE_DIR/minio-build.lock"
flock 9
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

echo "ensure.sh: building MinIO once with go install (takes minutes, ~2 GB of module cache)…" >&2
built=""
for version in "$PINNED_COMMIT" "$PINNED_PSEUDO" latest; do
  if GOTOOLCHAIN=local GOBIN="$BIN_DIR" CGO_ENABLED=0 "$GO" install "github.com/minio/minio@$version" >&2; then
    built="$version"; break
  fi
  echo "ensure.sh: github.com/minio/minio@$version could not be built; trying the next fallback" >&2
done
if [[ -z "$built" ]]; then
  echo "ensure.sh: could not build MinIO with go install" >&2
  exit 1
fi
echo "$built" > "$BIN_DIR/minio.version"
echo "ensure.sh: built github.com/minio/minio@$built into $BIN" >&2
echo "$BIN"
