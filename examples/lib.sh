# Shared by the examples' run.sh (sourced, not run): the repo's built CLI, a work folder, background processes that
# are all stopped on exit, and bounded waits. Everything listens on 127.0.0.1 only.

EXAMPLES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$EXAMPLES_DIR/.." && pwd)"
SWARMGRAD_BIN="$REPO_DIR/packages/cli/bin/swarmgrad.js"
if [[ ! -f "$REPO_DIR/packages/cli/dist/bin.js" ]]; then
  echo "swarmgrad is not built: run 'npx -y pnpm@10.34.8 build' in $REPO_DIR first" >&2
  exit 2
fi

# the example's files (data, keys, logs, histories, models): EXAMPLE_OUT, or a new temporary folder that is kept
OUT="${EXAMPLE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/swarmgrad-example-XXXXXX")}"
mkdir -p "$OUT"

PIDS=()

# stops every process this script started: SIGTERM, then SIGKILL for any still running after 5 s
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

swarmgrad() {
  node "$SWARMGRAD_BIN" "$@"
}

# start NAME ARGS...: runs `swarmgrad ARGS...` in the background, its output in $OUT/NAME.log; sets LAST_PID
start() {
  local name="$1"
  shift
  node "$SWARMGRAD_BIN" "$@" >"$OUT/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# a TCP port free on 127.0.0.1 now
free_port() {
  node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# wait_exit SECONDS PID...: waits for every PID to exit; fails if one exits non-zero or the time runs out
wait_exit() {
  local limit="$1"
  shift
  local deadline=$((SECONDS + limit)) pid
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS > deadline)); then
        echo "timed out after ${limit} s waiting for process $pid" >&2
        return 1
      fi
      sleep 0.2
    done
    if ! wait "$pid"; then
      echo "process $pid failed; its log is in $OUT" >&2
      return 1
    fi
  done
}

# wait_log SECONDS FILE PATTERN: waits until FILE holds a line matching PATTERN (grep -E)
wait_log() {
  local deadline=$((SECONDS + $1))
  until grep -qE "$3" "$2" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "timed out after $1 s waiting for /$3/ in $2" >&2
      return 1
    fi
    sleep 0.2
  done
}

# accuracies FILE...: "<first> <last> <round>": the test accuracy of the first and of the last evaluated round, each
# the mean over the --history-file FILEs, and the last round they reached
accuracies() {
  node -e '
    const { readFileSync } = require("node:fs")
    const files = process.argv.slice(1)
    let first = 0, last = 0, round = 0
    for (const file of files) {
      const rows = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
      const acc = rows.filter((r) => typeof r.accuracy === "number")
      if (acc.length === 0) throw new Error(`${file}: no evaluated round`)
      first += acc[0].accuracy / files.length
      last += acc.at(-1).accuracy / files.length
      round = Math.max(round, rows.at(-1).round)
    }
    console.log(`${first.toFixed(3)} ${last.toFixed(3)} ${round}`)
  ' "$@"
}
