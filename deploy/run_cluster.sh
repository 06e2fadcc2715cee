#!/usr/bin/env bash
# Start the cluster profile's processes (deploy/Procfile) on this machine and stop them all together.
#
#   export DAGSTER_HOME=/srv/hybrid_data/dagster HYBRID_DATA_HOME=/srv/hybrid_data
#   export HYBRID_DATA_DAGSTER_PG_URL=... HYBRID_DATA_CELERY_BROKER=... HYBRID_DATA_CELERY_BACKEND=...
#   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000 HYBRID_DATA_MLFLOW_STORE=... HYBRID_DATA_MLFLOW_ARTIFACTS=...
#   deploy/run_cluster.sh                 # every process, two workers
#   deploy/run_cluster.sh worker worker   # only these (e.g. two more workers on another machine)
#
# Settings come from the environment only (docs/deployment.md); logs go to $DAGSTER_HOME/logs/<name>.log.
# Ctrl-C (or any process exiting) stops the others: a supervisor (systemd, Kubernetes) restarts the lot.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DAGSTER_HOME:?set DAGSTER_HOME to the cluster instance folder}"
export HYBRID_DATA_PROFILE=cluster PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python -m hybrid_data.deployment init
mkdir -p "$DAGSTER_HOME/logs"

if [ $# -gt 0 ]; then wanted=("$@"); else
  wanted=(mlflow codeserver worker worker daemon webserver)
fi

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait
}
trap stop EXIT INT TERM

workers=0
for name in "${wanted[@]}"; do
  command=$(sed -n "s/^$name: //p" deploy/Procfile)
  if [ -z "$command" ]; then echo "no process '$name' in deploy/Procfile" >&2; exit 2; fi
  label="$name"
  if [ "$name" = worker ]; then workers=$((workers + 1)); label="worker$workers"; fi
  HYBRID_DATA_WORKER_NAME="$label" setsid bash -c "$command" >"$DAGSTER_HOME/logs/$label.log" 2>&1 &
  pids+=($!)
  echo "started $label (pid $!, log $DAGSTER_HOME/logs/$label.log)"
done

wait -n
echo "a process exited; stopping the others" >&2
