# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# The helpers every deploy check may use (README.md). Sourced by scripts/test-deploy before
# it sets up the containers; they read its variables ($RIG, $PI, $WORK, $VARS, ...) when
# called, not when defined.

step() { echo "== $(($(date +%s) - START)) s: $*"; }
# The check running is in $CHECK: the message names it, and the exit trap reports it failed.
fail() { echo "test-deploy: FAIL${CHECK:+ in $CHECK}: $*" >&2; exit 1; }
in_pi() { "$RIG" exec "$PI" "$@"; }
wait_active() { # wait_active UNIT...: each active within 60 s
  local unit deadline=$((SECONDS + 60))
  for unit in "$@"; do
    until [[ $(in_pi systemctl is-active "$unit") == active ]]; do
      ((SECONDS < deadline)) || fail "$unit not active"; sleep 0.5
    done
  done
}
# `cmd | contains PATTERN`: grep that reads all its input. `cmd | grep -q` stops reading at
# the first match, and under pipefail the writer's broken pipe then fails the check.
contains() { grep "$@" >/dev/null; }
as_appliance() { in_pi runuser -u appliance -- /opt/appliance/venv/bin/appliance "$@"; }
# `appliance status` exits with its state (0 ready, 1 attention, 2 fault): any of those is an
# answer to read; anything else (a crash) fails the check.
status_of() { local rc=0; as_appliance status "$@" || rc=$?; ((rc <= 2)) || fail "appliance status exited $rc"; }
# With the private key: a transient unit that gets the credential (docs/key-protection.md).
with_key() { in_pi systemd-run --quiet --pipe --wait --collect -p User=appliance \
  -p LoadCredentialEncrypted=appliance-key:/etc/appliance/credentials/appliance-key.cred \
  -E APPLIANCE_CONFIG=/etc/appliance/appliance.toml /opt/appliance/venv/bin/appliance "$@"; }
timed() { # timed LABEL CMD...: run CMD, record its wall time under LABEL (the final summary)
  local label=$1 t0=$SECONDS; shift; "$@"; echo "$label $((SECONDS - t0))" >>"$WORK/times"; }
apply() { # apply MACHINE LOG [ANSIBLE_PLAYBOOK_ARG...]: site.yml with $VARS, its log $WORK/LOG.log
  local machine=$1 log=$2; shift 2
  (cd ansible && "$RIG" ansible "$machine" site.yml "${VARS[@]}" "$@") >"$WORK/$log.log" 2>&1 \
    || { tail -40 "$WORK/$log.log"; fail "site.yml ($log)"; }; }
# exposure_at_most MAX LABEL MACHINE UNIT: `systemd-analyze security --offline=true` scores
# UNIT (a unit name or file in MACHINE) at most MAX; the score goes to the summary as
# "exposure LABEL SCORE".
exposure_at_most() {
  local max=$1 label=$2 machine=$3 unit=$4 score
  score=$("$RIG" exec "$machine" systemd-analyze security --offline=true "$unit" \
          | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  echo "exposure $label $score" | tee -a "$WORK/times"
  awk -v s="$score" -v max="$max" 'BEGIN { exit !(s != "" && s <= max) }' \
    || fail "$label exposure ${score:-unknown} > $max"
}
