#!/usr/bin/env bash
# claimcheck demo (`make run`): a development issuer, an echo upstream and Envoy running
# claimcheck, all on 127.0.0.1, plus ready-to-paste curl commands with fresh tokens.
#
#   127.0.0.1:9000   claimcheck issuer    OIDC discovery + JWKS (cluster `idp`)
#   127.0.0.1:10001  claimcheck-echo      upstream that shows the headers it received
#   127.0.0.1:10000  Envoy listener       claimcheck in front of the echo upstream
#   127.0.0.1:9901   Envoy admin          /stats?filter=wasmcustom
#
# The keys in .run/keys are generated for this demo only and are replaced on every run.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

ISSUER_ADDR=127.0.0.1:9000
ECHO_ADDR=127.0.0.1:10001
LISTENER=127.0.0.1:10000
ADMIN=127.0.0.1:9901
ISSUER="http://$ISSUER_ADDR"   # must equal providers.demo.issuer in envoy-config/demo.yaml
AUDIENCE=demo-api              # must be in providers.demo.audiences
RUN_DIR=.run
KEY_DIR=$RUN_DIR/keys
LOG_DIR=$RUN_DIR/logs
# Overridable: another Envoy build, an edited copy of the demo config, a prebuilt CLI.
ENVOY=${ENVOY:-.venv/bin/envoy}
ENVOY_CONFIG=${ENVOY_CONFIG:-envoy-config/demo.yaml}
CLAIMCHECK=${CLAIMCHECK:-target/debug/claimcheck}
ECHO=target/debug/claimcheck-echo
# How long to wait for each service to come up (Envoy compiles the wasm module first).
READY_TIMEOUT_S=120

say() { printf '%s\n' "$*"; }
die() { printf 'run-demo: %s\n' "$*" >&2; exit 1; }

command -v curl >/dev/null || die "curl is required (apt-get install curl)"

port_in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for addr in "$ISSUER_ADDR" "$ECHO_ADDR" "$LISTENER" "$ADMIN"; do
  if port_in_use "$addr"; then
    die "$addr is already in use (another demo running?); stop it first"
  fi
done

say "==> building claimcheck.wasm, the CLI and the echo upstream"
make --no-print-directory build envoy
cargo build --quiet -p claimcheck-cli -p claimcheck-e2e --bins

mkdir -p "$LOG_DIR"
say "==> generating DEMO-ONLY keys in $KEY_DIR (never use them anywhere else)"
"$CLAIMCHECK" keys --alg ES256 --kid demo-key --out-dir "$KEY_DIR" --force >/dev/null

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#PIDS[@]})); then
    say ""
    say "==> stopping (pids ${PIDS[*]})"
    kill "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # name, command...
  local name=$1
  shift
  "$@" >"$LOG_DIR/$name.log" 2>&1 &
  PIDS+=("$!")
}

wait_for() { # description, url, expected body prefix (optional)
  local what=$1 url=$2 want=${3:-} body
  for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
    if body=$(curl -fsS --max-time 2 "$url" 2>/dev/null) && [[ $body == "$want"* ]]; then
      return 0
    fi
    for pid in "${PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "$what exited; see $LOG_DIR/"
    done
    sleep 0.1
  done
  die "$what did not become ready within ${READY_TIMEOUT_S}s; see $LOG_DIR/"
}

say "==> starting the issuer, the echo upstream and Envoy (logs in $LOG_DIR/)"
start issuer "$CLAIMCHECK" issuer --jwks "$KEY_DIR/jwks.json" --issuer "$ISSUER" --listen "$ISSUER_ADDR"
wait_for "the issuer" "$ISSUER/.well-known/openid-configuration"
start echo "$ECHO" --listen "$ECHO_ADDR"
wait_for "the echo upstream" "http://$ECHO_ADDR/"
start envoy "$ENVOY" -c "$ENVOY_CONFIG" --disable-hot-restart --concurrency 2 \
  --log-level info --component-log-level wasm:debug
wait_for "Envoy" "http://$ADMIN/ready" LIVE

token() { "$CLAIMCHECK" token --key "$KEY_DIR/private-key.pem" --iss "$ISSUER" --aud "$AUDIENCE" "$@"; }
READER=$(token --sub alice --claim scope=api:read --claim 'groups=["dev"]')
ADMIN_TOKEN=$(token --sub root --claim scope=api:read --claim 'groups=["admin"]')
EXPIRED=$(token --sub alice --claim scope=api:read --now 2020-01-01T00:00:00Z --ttl 5m)

cat <<EOT

claimcheck demo is up: Envoy on http://$LISTENER (Ctrl-C stops everything)

# public route, no token needed -> 200
curl -i http://$LISTENER/public/hello

# /api with a token that has scope api:read -> 200; the echo shows x-user-id etc., no token
curl -i http://$LISTENER/api/orders -H 'authorization: Bearer $READER'

# /admin with a valid token that lacks group admin -> 403 insufficient_scope
curl -i http://$LISTENER/admin/users -H 'authorization: Bearer $READER'

# /admin as a member of group admin -> 200
curl -i http://$LISTENER/admin/users -H 'authorization: Bearer $ADMIN_TOKEN'

# no token -> 401; expired token -> 401 invalid_token
curl -i http://$LISTENER/api/orders
curl -i http://$LISTENER/api/orders -H 'authorization: Bearer $EXPIRED'

# forged identity headers are removed before the upstream sees them
curl -s http://$LISTENER/public/hello -H 'x-user-id: mallory'

# claimcheck's metrics
curl -s http://$ADMIN/stats?filter=wasmcustom

More tokens: $CLAIMCHECK token --key $KEY_DIR/private-key.pem --iss $ISSUER --aud $AUDIENCE --sub you --claim 'groups=["admin"]'
Logs: $LOG_DIR/{issuer,echo,envoy}.log
EOT

# Run until Ctrl-C, or until one of the services stops on its own.
set +e
wait -n "${PIDS[@]}"
say "run-demo: a service stopped; see $LOG_DIR/" >&2
exit 1
