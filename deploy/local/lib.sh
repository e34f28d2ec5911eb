# Shared by the deploy/local scripts: paths, ports, logging and waiting. Sourced, not run.
# Everything the local stack writes lives under $RAPPORT_STATE (default: .rapport in the repo);
# installed tools are cached under $RAPPORT_CACHE (default: /var/cache/rapport), outside any
# clone, so a fresh checkout or CI run does not rebuild the broker.

set -euo pipefail

RAPPORT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RAPPORT_STATE=${RAPPORT_STATE:-$RAPPORT_ROOT/.rapport}
RAPPORT_CACHE=${RAPPORT_CACHE:-/var/cache/rapport}
TANSU_VERSION=0.6.0
TANSU_BIN=${TANSU_BIN:-$RAPPORT_CACHE/tansu-$TANSU_VERSION/bin/tansu}
KAFKA_PORT=${RAPPORT_LOCAL_KAFKA_PORT:-9092}
CH_HTTP_PORT=${RAPPORT_LOCAL_CH_HTTP_PORT:-8123}
CH_TCP_PORT=${RAPPORT_LOCAL_CH_TCP_PORT:-9000}
PARTITIONS=${RAPPORT_LOCAL_PARTITIONS:-8}
TOPICS=(rapport.interactions.v1 rapport.deadletter.v1)

log() { printf '\033[1m[rapport local]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[rapport local] error:\033[0m %s\n' "$*" >&2; exit 1; }

# pid_alive NAME: the service NAME recorded a pid that is still running.
pid_alive() {
    local f="$RAPPORT_STATE/$1.pid"
    [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds or the time is up.
wait_for() {
    local what=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
    log "$what is up"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
clickhouse_answers() { curl -fsS "http://127.0.0.1:$CH_HTTP_PORT/?query=SELECT%201" | grep -q '^1$'; }
