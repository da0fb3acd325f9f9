# Helpers shared by .ci/package.sh and .ci/configuration.sh, which source
# this file. Servers started with start_registry are stopped on exit, and
# WORK is removed.

section() {
    printf '\n==== %s ====\n' "$*"
}

fail() {
    echo "error: $*" >&2
    exit 1
}

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# free_port: prints a TCP port on 127.0.0.1 that is free now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT WHAT: waits up to 20 s for a listener on 127.0.0.1:PORT.
wait_for_port() {
    local port="$1" what="$2"
    for _ in $(seq 1 100); do
        if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    fail "$what did not listen on 127.0.0.1:$port within 20 s"
}

# start_registry: starts docker-registry on a free port of 127.0.0.1, with
# its storage under WORK, and sets REGISTRY to its address.
start_registry() {
    local port
    port="$(free_port)"
    cat > "$WORK/registry.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$port
YAML
    docker-registry serve "$WORK/registry.yml" 2> "$WORK/registry.log" &
    PIDS+=("$!")
    wait_for_port "$port" "docker-registry"
    REGISTRY="127.0.0.1:$port"
}
