#!/usr/bin/env bash
# bench/cluster.sh: cross-node broadcasts through Redis against one node, in the same run.
#
# Starts, all on 127.0.0.1 and on free ports it picks itself:
#   - its own redis-server (--save '' --appendonly no),
#   - a 3-node cinder cluster (--redis, --node-name n1..n3, --workers 1 each),
#   - two single nodes for reference (no --redis): --workers 1 and --workers 2,
# then runs build/loadgen `broadcast --via push` (one room topic) against each target in turn,
# alternating (single w1, cluster, single w2, then again) to spread the drift of a shared machine
# over all of them:
#   single: every receiver on that node;
#   cluster: receivers dealt round robin over the 3 nodes' ports, the pushing member on n1, so
#            two thirds of the deliveries cross Redis.
# Per run: delivered messages/s and latency p50/p99/p99.9 (loadgen's), each node's CPU seconds and
# Redis's (/proc/PID/stat utime+stime, before and after the loadgen process: joins and the
# broadcast), bytes through Redis per broadcast (INFO stats total_net_input_bytes /
# total_net_output_bytes deltas), PUBLISH calls (INFO commandstats), and the nodes'
# cinder_cluster_messages_out_total / _in_total deltas from /metrics. The bus's idle traffic
# (heartbeats, one per node per second, measured before the runs) is subtracted from the Redis
# figures, so they are per broadcast.
#
# Prints the machine, then a table (median over --reps runs per target and window) and the
# ratios of the cluster to the single nodes. Stops everything it started on exit, error or signal.
#
#   cmake --build build -j2                    # release build/cinder and build/loadgen
#   bench/cluster.sh                           # ~3-4 minutes with the defaults
#   bench/cluster.sh --receivers 3000 --windows "1 8 64" --reps 3 --out /tmp/cluster-bench
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/cinder
LG=$ROOT/build/loadgen
RECEIVERS=3000
WINDOWS="1 64"
REPS=3
MESSAGES=""   # empty: per window, min(250 x W, 3500) (~5-10 s per run on 2 cores)
SIZE=100
OUT=""

usage() {
  cat <<EOF
usage: bench/cluster.sh [options]
  --bin PATH        cinder binary (build/cinder; a release build)
  --loadgen PATH    load generator (build/loadgen)
  --receivers N     receiving sockets per run (3000)
  --windows "W..."  loadgen --window values, one series each ("1 64")
  --messages M      messages per run (default per window: min(250 x W, 3500))
  --size B          message payload bytes (100)
  --reps N          runs per target and window; the table shows the median (3)
  --out DIR         keep every run's loadgen JSON and a runs.tsv there
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --loadgen) LG=$2; shift 2 ;;
    --receivers) RECEIVERS=$2; shift 2 ;;
    --windows) WINDOWS=$2; shift 2 ;;
    --messages) MESSAGES=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cluster.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$BIN" ] || die "no cinder binary at $BIN (cmake --build build -j2)"
[ -x "$LG" ] || die "no loadgen at $LG (cmake --build build -j2 --target loadgen)"
grep -q -- '--redis' <<<"$("$BIN" serve --help 2>&1)" || die "$BIN has no --redis: rebuild it with the cluster code"
for c in redis-server redis-cli curl ss awk; do command -v $c >/dev/null || die "$c not found"; done

# --- everything we start, stopped on exit ------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cinder-cluster-bench.XXXXXX")
PIDS=()
LGPID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$LGPID" ] && kill -TERM "$LGPID" 2>/dev/null && wait "$LGPID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 50); do # cinder drains for up to 3 s
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- free loopback ports: 6 consecutive ones, below the ephemeral range loadgen uses ------------
pick_ports() {
  local listening base ok
  listening=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 50); do
    base=$((20000 + RANDOM % 12000))
    ok=1
    for i in 0 1 2 3 4 5; do grep -qx "$((base + i))" <<<"$listening" && ok=0; done
    [ $ok = 1 ] && { echo "$base"; return; }
  done
  die "no 6 free consecutive ports found"
}
BASE=$(pick_ports)
RPORT=$BASE
C1=$((BASE + 1)); C2=$((BASE + 2)); C3=$((BASE + 3)); S1=$((BASE + 4)); S2=$((BASE + 5))

# --- start Redis and the nodes ---------------------------------------------------------------------
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --loglevel warning >"$TMP/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
for _ in $(seq 100); do
  [ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$RPID" 2>/dev/null || die "redis-server exited: $(tail -n 3 "$TMP/redis.log")"
  sleep 0.1
done
[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" = PONG ] || die "redis-server not answering"

start_node() { # name port workers [extra args...]
  local name=$1 port=$2 workers=$3; shift 3
  mkdir -p "$TMP/$name"
  "$BIN" serve --host 127.0.0.1 --port "$port" --workers "$workers" --data "$TMP/$name" \
    --log-level warn "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=("$!")
  eval "PID_$name=$!"
}
REDIS_URL=redis://127.0.0.1:$RPORT
start_node n1 "$C1" 1 --redis "$REDIS_URL" --node-name n1
start_node n2 "$C2" 1 --redis "$REDIS_URL" --node-name n2
start_node n3 "$C3" 1 --redis "$REDIS_URL" --node-name n3
start_node s1 "$S1" 1
start_node s2 "$S2" 2

wait_health() { # port [pattern]
  for _ in $(seq 150); do
    grep -q "${2:-status}" <<<"$(curl -sf "http://127.0.0.1:$1/healthz" 2>/dev/null)" && return 0
    sleep 0.1
  done
  return 1
}
for n in n1:$C1 n2:$C2 n3:$C3; do
  wait_health "${n#*:}" '"nodes":3' || die "node ${n%%:*} (port ${n#*:}) not up with 3 nodes: $(tail -n 3 "$TMP/${n%%:*}.log")"
done
wait_health "$S1" || die "single node s1 (port $S1) not up: $(tail -n 3 "$TMP/s1.log")"
wait_health "$S2" || die "single node s2 (port $S2) not up: $(tail -n 3 "$TMP/s2.log")"

# --- measurements ------------------------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
cpu_s() { # pid -> utime+stime in seconds
  sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk -v t="$TCK" '{printf "%.3f", ($12 + $13) / t}'
}
redis_stats() { # -> "in out publishes"
  local s c
  s=$(redis-cli -h 127.0.0.1 -p "$RPORT" info stats | tr -d '\r')
  c=$(redis-cli -h 127.0.0.1 -p "$RPORT" info commandstats | tr -d '\r')
  echo "$(sed -n 's/^total_net_input_bytes://p' <<<"$s") $(sed -n 's/^total_net_output_bytes://p' <<<"$s")" \
    "$(sed -n 's/^cmdstat_publish:calls=\([0-9]*\).*/\1/p' <<<"$c" | grep . || echo 0)"
}
bus_msgs() { # -> "out in" summed over the cluster nodes
  local o=0 i=0 m
  for p in "$C1" "$C2" "$C3"; do
    m=$(curl -sf "http://127.0.0.1:$p/metrics")
    o=$((o + $(awk '/^cinder_cluster_messages_out_total/ {n = $2} END {print n + 0}' <<<"$m")))
    i=$((i + $(awk '/^cinder_cluster_messages_in_total/ {n = $2} END {print n + 0}' <<<"$m")))
  done
  echo "$o $i"
}
now() { date +%s.%N; }
children_cpu() { # user+system seconds of this shell's reaped children (`times`, second line),
  times >"$TMP/times" # run by this shell itself: in a $(...) subshell it would count the subshell's
  awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }; printf "%.3f", s }' "$TMP/times"
}
jget() { grep -o "\"$1\":[^,}]*" "$2" | head -n 1 | cut -d: -f2 | tr -d '"'; }

# The bus's idle traffic (heartbeats: one per node per second), subtracted from every run.
log "redis on $RPORT; cluster n1..n3 on $C1,$C2,$C3; single nodes on $S1 (1 worker), $S2 (2 workers)"
log "measuring the idle bus for 4 s"
sleep 1
read -r ib0 ob0 pb0 <<<"$(redis_stats)"; t0=$(now)
sleep 4
read -r ib1 ob1 pb1 <<<"$(redis_stats)"; t1=$(now)
IDLE=$(awk -v i="$((ib1 - ib0))" -v o="$((ob1 - ob0))" -v p="$((pb1 - pb0))" -v a="$t0" -v b="$t1" \
  'BEGIN { d = b - a; printf "%.1f %.1f %.3f", i / d, o / d, p / d }')
read -r IDLE_IN IDLE_OUT IDLE_PUB <<<"$IDLE"

RUNS=$TMP/runs.tsv
printf 'target\twindow\trep\tok\tsent\tdelivered\tdelivered_per_s\tp50_ms\tp99_ms\tp999_ms\tcpu_n1\tcpu_n2\tcpu_n3\tcpu_redis\tcpu_loadgen\tredis_in_per_bc\tredis_out_per_bc\tpublish_per_bc\tbus_out_per_bc\tbus_in_per_bc\tjoined_per_port\tload1\tnode_cpu_us_per_delivery\n' >"$RUNS"
FAILED=0

# run_one TARGET WINDOW REP MESSAGES: one loadgen broadcast against "s1", "s2" or "cluster".
run_one() {
  local target=$1 w=$2 rep=$3 m=$4 ports pids json=$TMP/$1-w$2-r$3.json
  case $target in
    s1) ports=$S1; pids="$PID_s1" ;;
    s2) ports=$S2; pids="$PID_s2" ;;
    cluster) ports=$C1,$C2,$C3; pids="$PID_n1 $PID_n2 $PID_n3" ;;
  esac
  sleep 1 # the previous run's closes
  local cb=() ca=() p rb ra bb ba tb ta lt
  for p in $pids; do cb+=("$(cpu_s "$p")"); done
  rb=$(cpu_s "$RPID"); read -r ib ob pb <<<"$(redis_stats)"; bb=$(bus_msgs); tb=$(now)
  # in the background and waited for, so that a signal stops the run at once; its CPU time is
  # the growth of this shell's reaped children's times across it (nothing else ends meanwhile)
  local c0 c1
  children_cpu >"$TMP/c0"; c0=$(<"$TMP/c0")
  "$LG" broadcast --port "$ports" --sockets "$RECEIVERS" --messages "$m" --via push \
    --window "$w" --size "$SIZE" --json --quiet --connect-timeout 60 --timeout 120 \
    >"$json" 2>"$json.err" &
  LGPID=$!
  wait "$LGPID"
  LGPID=""
  children_cpu >"$TMP/c1"; c1=$(<"$TMP/c1")
  ta=$(now)
  for p in $pids; do ca+=("$(cpu_s "$p")"); done
  ra=$(cpu_s "$RPID"); read -r ia oa pa <<<"$(redis_stats)"; ba=$(bus_msgs)
  lt=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')
  kill -0 "$RPID" 2>/dev/null || die "redis-server (pid $RPID) is gone: $(tail -n 3 "$TMP/redis.log")"
  local ok sent del dps p50 p99 p999 jpp
  ok=$(jget ok "$json"); sent=$(jget sent "$json"); del=$(jget delivered "$json")
  dps=$(jget delivered_per_s "$json"); p50=$(jget latency_p50_ms "$json")
  p99=$(jget latency_p99_ms "$json"); p999=$(jget latency_p999_ms "$json")
  [ "$ok" = true ] || { FAILED=$((FAILED + 1)); log "  $target w$w rep $rep: loadgen not ok: $(tr -d '\n' <"$json.err" | head -c 300) $(grep -o '"errors":.*' "$json")"; }
  jpp=$(grep -o '"joined_port_[0-9]*":[0-9]*' "$json" | cut -d: -f2 | paste -sd/ -)
  [ -n "$jpp" ] || jpp=$(jget joined "$json")
  local c1 c2 c3 per
  c1=$(awk -v a="${cb[0]}" -v b="${ca[0]}" 'BEGIN{printf "%.2f", b - a}')
  if [ "$target" = cluster ]; then
    c2=$(awk -v a="${cb[1]}" -v b="${ca[1]}" 'BEGIN{printf "%.2f", b - a}')
    c3=$(awk -v a="${cb[2]}" -v b="${ca[2]}" 'BEGIN{printf "%.2f", b - a}')
    read -r bo0 bi0 <<<"$bb"; read -r bo1 bi1 <<<"$ba"
    # Redis: minus the idle bus over this run's wall time, per broadcast sent
    per=$(awk -v s="${sent:-0}" -v d="$(awk -v a="$tb" -v b="$ta" 'BEGIN{print b - a}')" \
      -v ri="$((ia - ib))" -v ro="$((oa - ob))" -v rp="$((pa - pb))" -v bo="$((bo1 - bo0))" -v bi="$((bi1 - bi0))" \
      -v ii="$IDLE_IN" -v io="$IDLE_OUT" -v ip="$IDLE_PUB" 'BEGIN {
        if (s == 0) { print "- - - - -"; exit }
        printf "%.0f %.0f %.3f %.3f %.3f", (ri - ii * d) / s, (ro - io * d) / s, (rp - ip * d) / s,
          (bo - ip * d) / s, (bi - 2 * ip * d) / s }')
  else
    c2=-; c3=-; per="- - - - -"
  fi
  local rcpu load1 upd
  rcpu=$(awk -v a="$rb" -v b="$ra" 'BEGIN{printf "%.2f", b - a}')
  upd=$(awk -v a="$c1" -v b="$c2" -v c="$c3" -v n="${del:-0}" 'BEGIN{ if (n > 0) printf "%.2f", (a + b + c) / n * 1e6; else print "-" }')
  load1=$(cut -d' ' -f1 /proc/loadavg)
  read -r rin rout rpub bout bin <<<"$per"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$target" "$w" "$rep" "$ok" "$sent" "$del" "$dps" "$p50" "$p99" "$p999" "$c1" "$c2" "$c3" "$rcpu" "$lt" \
    "$rin" "$rout" "$rpub" "$bout" "$bin" "$jpp" "$load1" "$upd" >>"$RUNS"
  log "  $target w$w rep $rep: $(printf '%.0f' "${dps:-0}") deliveries/s, p50 $p50 ms, p99 $p99 ms, cpu $c1/$c2/$c3 s, redis $rcpu s, load $load1"
}

msgs_for() { [ -n "$MESSAGES" ] && { echo "$MESSAGES"; return; }; local m=$((250 * $1)); [ $m -gt 3500 ] && m=3500; echo $m; }

for rep in $(seq "$REPS"); do
  for w in $WINDOWS; do
    m=$(msgs_for "$w")
    log "rep $rep/$REPS, window $w, $m messages to $RECEIVERS receivers"
    # alternate the order between reps too
    if [ $((rep % 2)) = 1 ]; then order="s1 cluster s2"; else order="s2 cluster s1"; fi
    for target in $order; do run_one "$target" "$w" "$rep" "$m"; done
  done
done

# --- the table ----------------------------------------------------------------------------------------
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) CPUs ($model), Linux $(uname -r); $(redis-server --version | awk '{print $1, $2, $3}')"
echo "cinder: $BIN$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null | sed 's/^/ at /'); loadgen $(nproc) threads; all on 127.0.0.1"
echo "broadcast --via push, $RECEIVERS receivers on one room topic, $SIZE-byte payloads; median of $REPS runs (+-: half their range)"
echo "CPU: utime+stime over each loadgen process (joins, broadcast, closes); CPU us/deliv: the nodes' sum per delivery"
echo "single w1 / w2: one node, --workers 1 / 2; cluster: 3 nodes --workers 1, receivers round robin, sender on n1"
echo "idle bus (subtracted): $IDLE_PUB publishes/s, $IDLE_IN B/s into Redis, $IDLE_OUT B/s out"
echo
awk -F'\t' -v windows="$WINDOWS" '
  function spread(key,   n, i, a, lo, hi, m) { # (max - min) / 2 / median, in %
    n = split(vals[key], a, " "); lo = hi = a[1] + 0
    for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
    m = median(key)
    return m > 0 ? sprintf("%.0f%%", (hi - lo) / 2 / m * 100) : "-"
  }
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    if (n == 0 || a[1] == "-") return "-"
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  {
    k = $1 SUBSEP $2
    for (c in col) vals[k SUBSEP c] = vals[k SUBSEP c] (vals[k SUBSEP c] == "" ? "" : " ") $col[c]
    if ($4 != "true") bad[k]++
    jpp[k] = $col["joined_per_port"]
  }
  END {
    name["s1"] = "single w1"; name["s2"] = "single w2"; name["cluster"] = "cluster 3x w1"
    printf "%-13s %4s %9s %4s %7s %7s %8s %17s %7s %7s %6s %8s %9s %7s %9s %s\n", "target", "W", "deliv/s", "+-", "p50 ms",
      "p99 ms", "p99.9 ms", "node CPU s", "CPU us", "loadgen", "Redis", "Redis in", "Redis out", "PUBLISH",
      "bus msgs", "joined"
    printf "%-13s %4s %9s %4s %7s %7s %8s %17s %7s %7s %6s %8s %9s %7s %9s %s\n", "", "", "", "", "", "", "", "(n1/n2/n3)",
      "/deliv", "CPU s", "CPU s", "B/bcast", "B/bcast", "/bcast", "out/in", "per port"
    nw = split(windows, W, " ")
    for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= 3; ti++) {
      t = ti == 1 ? "s1" : ti == 2 ? "s2" : "cluster"; k = t SUBSEP W[wi]
      if (!((k SUBSEP "delivered_per_s") in vals)) continue
      d[k] = median(k SUBSEP "delivered_per_s"); u[k] = median(k SUBSEP "node_cpu_us_per_delivery"); p5[k] = median(k SUBSEP "p50_ms"); p9[k] = median(k SUBSEP "p99_ms")
      cpu = median(k SUBSEP "cpu_n1")
      if (t == "cluster") cpu = sprintf("%.2f/%.2f/%.2f", cpu, median(k SUBSEP "cpu_n2"), median(k SUBSEP "cpu_n3"))
      else cpu = sprintf("%.2f", cpu)
      bus = t == "cluster" ? sprintf("%.2f/%.2f", median(k SUBSEP "bus_out_per_bc"), median(k SUBSEP "bus_in_per_bc")) : "-"
      rin = median(k SUBSEP "redis_in_per_bc"); rout = median(k SUBSEP "redis_out_per_bc"); pub = median(k SUBSEP "publish_per_bc")
      printf "%-13s %4s %9.0f %4s %7.2f %7.2f %8.2f %17s %7.2f %7.2f %6.2f %8s %9s %7s %9s %s%s\n", name[t], W[wi], d[k],
        spread(k SUBSEP "delivered_per_s"), p5[k], p9[k], median(k SUBSEP "p999_ms"), cpu, median(k SUBSEP "node_cpu_us_per_delivery"),
        median(k SUBSEP "cpu_loadgen"), median(k SUBSEP "cpu_redis"), rin, rout, pub == "-" ? "-" : sprintf("%.2f", pub),
        bus, jpp[k], bad[k] ? "  (" bad[k] " run(s) not ok)" : ""
    }
    printf "\ncluster / single, same run:   deliveries/s   p50   p99   node CPU per delivery\n"
    for (wi = 1; wi <= nw; wi++) {
      c = "cluster" SUBSEP W[wi]
      for (ti = 1; ti <= 2; ti++) {
        t = ti == 1 ? "s1" : "s2"; k = t SUBSEP W[wi]
        if (!(k in d) || !(c in d) || d[k] == 0 || p5[k] == 0 || p9[k] == 0) continue
        printf "  W=%-4s vs %-9s            %5.2fx  %5.2fx %5.2fx  %5.2fx\n", W[wi], name[t], d[c] / d[k], p5[c] / p5[k],
          p9[c] / p9[k], (u[k] > 0 ? u[c] / u[k] : 0)
      }
    }
  }' "$RUNS"

if [ -n "$OUT" ]; then
  mkdir -p "$OUT" && cp "$TMP"/*.json "$TMP"/*.err "$TMP"/*.log "$RUNS" "$OUT"/ && echo && echo "runs: $OUT/runs.tsv"
fi
[ "$FAILED" = 0 ] || die "$FAILED run(s) were not ok (see above)"
