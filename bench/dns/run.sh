#!/usr/bin/env bash
# The DNS gateway benchmark: dnsperf against an idres node's DNS gateway, against NSD serving the same
# names as a zone generated from the same identifiers, and against the bare Node DNS responder
# (bench/dns/baseline-responder.ts, answers fetched from idres once and kept in a Map), on the same machine,
# with the same query file.
# Loopback only; every load run is bounded in time (dnsperf -l). Not part of npm test.
#
#   bench/dns/run.sh [RUNS=3] [SECONDS=10] [COUNT] [MODE=cached|uncached]
#
# cached: COUNT (3,000) identifiers, asked over and over, so idres answers from its cache of encoded
# answers. uncached: COUNT (200,000) identifiers asked in a shuffled order with idres's caches bounded at
# 1 MiB, so nearly every query is a registry read (bench/dns/prepare.ts).
#
# Prints each run's queries per second, the medians and their ratio, and a Markdown table for
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
SECONDS_PER_RUN=${2:-10}
MODE=${4:-cached}
if [[ $MODE == uncached ]]; then COUNT=${3:-200000}; else COUNT=${3:-3000}; fi
HANDLE_PORT=${HANDLE_PORT:-26641}
IDRES_DNS_PORT=${IDRES_DNS_PORT:-25353}
NSD_PORT=${NSD_PORT:-25354}
BASE_PORT=${BASE_PORT:-25355}
# The same load for both: one dnsperf thread, 8 sockets, at most 200 queries outstanding, EDNS on.
DNSPERF_ARGS=(-s 127.0.0.1 -l "$SECONDS_PER_RUN" -c 8 -q 200 -T 1 -e)

need() {
  local missing=()
  command -v dnsperf >/dev/null || missing+=(dnsperf)
  command -v nsd >/dev/null || missing+=(nsd)
  command -v dig >/dev/null || missing+=(bind9-dnsutils)
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "installing ${missing[*]} with apt-get" >&2
      apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing: ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
      exit 2
    fi
  fi
}
need

WORK=$(mktemp -d /tmp/idres-dns-bench.XXXXXX)
IDRES_PID=""
NSD_PID=""
BASE_PID=""
cleanup() {
  [[ -n $BASE_PID ]] && kill "$BASE_PID" 2>/dev/null || true
  [[ -n $IDRES_PID ]] && kill "$IDRES_PID" 2>/dev/null || true
  [[ -n $NSD_PID ]] && kill "$NSD_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

npm run build >/dev/null
node dist/bench/dns/prepare.js "$WORK" "$COUNT" "$HANDLE_PORT" "$IDRES_DNS_PORT" "$MODE" >&2

# NSD as shipped, but: one server process (idres answers on one thread too), no chroot or privilege drop,
# and response rate limiting off (its default of 200 qps per client network would measure the limiter).
cat >"$WORK/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$NSD_PORT
  server-count: 1
  database: ""
  zonelistfile: "$WORK/zone.list"
  pidfile: "$WORK/nsd.pid"
  xfrdfile: "$WORK/xfrd.state"
  xfrdir: "$WORK"
  zonesdir: "$WORK"
  username: ""
  chroot: ""
  logfile: "$WORK/nsd.log"
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: id.internal
  zonefile: id.internal.zone
CONF

start_idres() {
  node bin/idres.js serve --dir "$WORK/idres-node" >"$WORK/idres.log" 2>&1 &
  IDRES_PID=$!
  for _ in $(seq 50); do grep -q 'DNS gateway on' "$WORK/idres.log" && return; sleep 0.2; done
  echo "idres did not start:" >&2; cat "$WORK/idres.log" >&2; exit 1
}
start_nsd() {
  nsd -d -c "$WORK/nsd.conf" &
  NSD_PID=$!
  for _ in $(seq 600); do dig +time=1 +tries=1 @127.0.0.1 -p "$NSD_PORT" id.internal SOA +short >/dev/null 2>&1 && return; sleep 0.2; done
  echo "nsd did not start:" >&2; cat "$WORK/nsd.log" >&2; exit 1
}

start_baseline() {
  node dist/bench/dns/baseline-responder.js "$BASE_PORT" "$IDRES_DNS_PORT" "$WORK/queries.txt" >"$WORK/baseline.log" 2>&1 &
  BASE_PID=$!
  for _ in $(seq 600); do grep -q 'DNS baseline ready' "$WORK/baseline.log" && return; sleep 0.2; done
  echo "the baseline did not start:" >&2; cat "$WORK/baseline.log" >&2; exit 1
}

# A process and all its descendants (NSD serves from a grandchild of the process started here).
tree() {
  echo "$1"
  local c
  for c in $(pgrep -P "$1"); do tree "$c"; done
}
# CPU clock ticks (user + system) used so far by a process tree: fields 14 and 15 of /proc/PID/stat, counted
# after the command name, which may hold spaces ("(nsd: main)").
cpu_ticks() {
  local files=() p
  for p in $(tree "$1"); do files+=("/proc/$p/stat"); done
  cat "${files[@]}" 2>/dev/null | awk '{sub(/^.*\) /, ""); s += $12 + $13} END {print s + 0}'
}

# One timed dnsperf run; prints queries per second and the server's CPU per answer in microseconds.
perf() {
  local port=$1 secs=$2 pid=$3 c0 c1 out qps answered
  c0=$(cpu_ticks "$pid")
  out=$(dnsperf "${DNSPERF_ARGS[@]}" -p "$port" -l "$secs" -d "$WORK/queries.txt" 2>&1 | tee -a "$WORK/dnsperf.log")
  c1=$(cpu_ticks "$pid")
  qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
  answered=$(awk '/Queries completed/ {print $3}' <<<"$out")
  awk -v q="$qps" -v a="$answered" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%s %.1f\n", q, (a > 0 ? c / hz * 1e6 / a : 0)}'
}

start_idres
start_nsd
start_baseline

# The same answer from both (the first name of the query file).
first=$(head -1 "$WORK/queries.txt" | cut -d' ' -f1)
a=$(dig +short @127.0.0.1 -p "$IDRES_DNS_PORT" "$first" TXT | sort)
b=$(dig +short @127.0.0.1 -p "$NSD_PORT" "$first" TXT | sort)
c=$(dig +short @127.0.0.1 -p "$BASE_PORT" "$first" TXT | sort)
if [[ "$a" != "$b" || "$a" != "$c" ]]; then
  echo "the servers answer $first differently:" >&2; diff <(echo "$a") <(echo "$b") >&2 || true; diff <(echo "$a") <(echo "$c") >&2 || true; exit 1
fi

# Warm-up (idres fills its caches; both settle), then the runs, alternating so drift hits both alike.
perf "$IDRES_DNS_PORT" 3 "$IDRES_PID" >/dev/null
perf "$NSD_PORT" 3 "$NSD_PID" >/dev/null
perf "$BASE_PORT" 3 "$BASE_PID" >/dev/null
idres_runs=() nsd_runs=() base_runs=() idres_cpu=() nsd_cpu=() base_cpu=()
for i in $(seq "$RUNS"); do
  read -r q c < <(perf "$IDRES_DNS_PORT" "$SECONDS_PER_RUN" "$IDRES_PID"); idres_runs+=("$q"); idres_cpu+=("$c")
  read -r q c < <(perf "$NSD_PORT" "$SECONDS_PER_RUN" "$NSD_PID"); nsd_runs+=("$q"); nsd_cpu+=("$c")
  read -r q c < <(perf "$BASE_PORT" "$SECONDS_PER_RUN" "$BASE_PID"); base_runs+=("$q"); base_cpu+=("$c")
  echo "run $i: idres ${idres_runs[-1]} qps (${idres_cpu[-1]} µs CPU/answer), nsd ${nsd_runs[-1]} qps (${nsd_cpu[-1]} µs), node baseline ${base_runs[-1]} qps (${base_cpu[-1]} µs)" >&2
done
lost=$(awk '/Queries lost/ {s += $3} END {print s + 0}' "$WORK/dnsperf.log")

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mi=$(median "${idres_runs[@]}")
mn=$(median "${nsd_runs[@]}")
mb=$(median "${base_runs[@]}")
ratio=$(awk -v a="$mi" -v b="$mn" 'BEGIN {printf "%.2f", a / b}')
ratio_base=$(awk -v a="$mb" -v b="$mn" 'BEGIN {printf "%.2f", a / b}')
ratio_ib=$(awk -v a="$mi" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
cat <<REPORT

| | idres DNS gateway | NSD $(nsd -v 2>&1 | head -1 | awk '{print $NF}') | bare Node DNS responder |
|---|---|---|---|
| runs (qps) | $(printf '%.0f ' "${idres_runs[@]}") | $(printf '%.0f ' "${nsd_runs[@]}") | $(printf '%.0f ' "${base_runs[@]}") |
| median (qps) | $(printf '%.0f' "$mi") | $(printf '%.0f' "$mn") | $(printf '%.0f' "$mb") |
| server CPU per answer, median (µs) | $(median "${idres_cpu[@]}") | $(median "${nsd_cpu[@]}") | $(median "${base_cpu[@]}") |
| ratio to NSD | **$ratio** | 1 | $ratio_base |
| ratio idres / bare Node | **$ratio_ib** | | |

$COUNT identifiers ($MODE), one TXT query each, $RUNS runs of ${SECONDS_PER_RUN} s per server (alternating), after a 3 s warm-up each;
dnsperf ${DNSPERF_ARGS[*]}; queries lost in all runs: $lost.
Machine: $(nproc) × $cpu, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), Node.js $(node -v), $(dnsperf -h 2>&1 | grep -m1 -o 'DNSPerf [0-9.]*' || echo dnsperf).
REPORT
