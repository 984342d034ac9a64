# Starts and stops a real Prometheus for the end-to-end scripts (sourced, not run).
# Needs scripts/tools.sh sourced first (install_promtool sets PROMETHEUS).

# start_prometheus CONFIG_FILE [EXTRA FLAGS...]: loopback only, a temporary data dir;
# sets PROM_URL and PROM_PID, and registers cleanup.
start_prometheus() {
  local config="$1"; shift
  PROM_DIR="$(mktemp -d)"
  local port
  port="$(free_port)"
  PROM_URL="http://127.0.0.1:$port"
  "$PROMETHEUS" --config.file="$config" --storage.tsdb.path="$PROM_DIR/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn "$@" \
    >"$PROM_DIR/prometheus.log" 2>&1 &
  PROM_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$PROM_URL/-/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "prometheus did not become ready:" >&2
  cat "$PROM_DIR/prometheus.log" >&2
  return 1
}

stop_prometheus() {
  if [ -n "${PROM_PID:-}" ]; then kill "$PROM_PID" 2>/dev/null || true; wait "$PROM_PID" 2>/dev/null || true; fi
  if [ -n "${PROM_DIR:-}" ]; then rm -rf "$PROM_DIR"; fi
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL: until it answers (bounded).
wait_http() {
  for _ in $(seq 1 150); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}

# promql QUERY: the instant query result as JSON.
promql() {
  curl -fsS --get "$PROM_URL/api/v1/query" --data-urlencode "query=$1"
}
