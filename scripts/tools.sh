# Installs the external tools the test scripts use, under .tools/ (sourced, not run).
TOOLS="$(pwd)/.tools"
mkdir -p "$TOOLS"

# Debian's prometheus package: gives `prometheus` and `promtool`, unpacked, no service started.
install_prometheus_package() {
  if [ -x "$TOOLS/prometheus/usr/bin/prometheus" ]; then return; fi
  local dl="$TOOLS/download"
  mkdir -p "$dl"
  if ! (cd "$dl" && apt-get download prometheus >/dev/null 2>&1); then
    local sudo=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
    $sudo apt-get update -qq >/dev/null
    (cd "$dl" && apt-get download prometheus >/dev/null)
  fi
  dpkg-deb -x "$dl"/prometheus_*.deb "$TOOLS/prometheus"
  rm -rf "$dl"
}

install_promtool() {
  install_prometheus_package
  PROMTOOL="$TOOLS/prometheus/usr/bin/promtool"
  PROMETHEUS="$TOOLS/prometheus/usr/bin/prometheus"
}

# A virtualenv with prometheus_client (its OpenMetrics parser) and requests-free stdlib tools.
install_openmetrics_python() {
  if [ ! -x "$TOOLS/venv/bin/python" ]; then
    python3 -m venv "$TOOLS/venv"
  fi
  if ! "$TOOLS/venv/bin/python" -c "import prometheus_client" 2>/dev/null; then
    "$TOOLS/venv/bin/pip" install --quiet "prometheus_client==0.26.0"
  fi
  OPENMETRICS_PYTHON="$TOOLS/venv/bin/python"
}

# install_deb PACKAGE DIR: Debian's package unpacked under .tools/DIR, no service started.
install_deb() {
  local package="$1" dir="$TOOLS/$2"
  if [ -d "$dir/usr/bin" ]; then return; fi
  local dl="$TOOLS/download"
  mkdir -p "$dl"
  if ! (cd "$dl" && apt-get download "$package" >/dev/null 2>&1); then
    local sudo=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
    $sudo apt-get update -qq >/dev/null
    (cd "$dl" && apt-get download "$package" >/dev/null)
  fi
  dpkg-deb -x "$dl"/"${package}"_*.deb "$dir"
  rm -rf "$dl"
}

# The push receivers: Pushgateway and VictoriaMetrics (Debian packages).
install_push_receivers() {
  install_deb prometheus-pushgateway pushgateway
  install_deb victoria-metrics victoria-metrics
  PUSHGATEWAY="$TOOLS/pushgateway/usr/bin/prometheus-pushgateway"
  VICTORIA_METRICS="$TOOLS/victoria-metrics/usr/bin/victoria-metrics"
}

# The venv with opentelemetry-proto, to decode OTLP requests.
install_otlp_python() {
  install_openmetrics_python
  if ! "$TOOLS/venv/bin/python" -c "import opentelemetry.proto" 2>/dev/null; then
    "$TOOLS/venv/bin/python" -m pip install --quiet "opentelemetry-proto==1.27.0"
  fi
  OTLP_PYTHON="$TOOLS/venv/bin/python"
}
