# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 21-push 30-sender
# Issue 13, part 2: the appliance's private key is a systemd credential (docs/key-protection.md).
# The push and print before it (21-push, 22-print) ran with the credential: the web service
# decrypted the push, `with_key print --wait` printed the kit.
CRED=/etc/appliance/credentials/appliance-key.cred
PEM_HEADER='-----BEGIN APPLIANCE HPKE PRIVATE KEY-----'

# The web and panel services run with the key in their in-memory credentials directory.
for unit in appliance-web appliance-panel; do
  wait_active "$unit"
  pid=$(in_pi systemctl show -P MainPID "$unit")
  dir=$(in_pi cat "/proc/$pid/environ" | tr '\0' '\n' | sed -n 's/^CREDENTIALS_DIRECTORY=//p')
  [[ -n $dir ]] || fail "$unit has no \$CREDENTIALS_DIRECTORY"
  fstype=$(in_pi findmnt -n -o FSTYPE --target "$dir")
  owner=$(in_pi stat -c %U "$dir/appliance-key")
  echo "$unit: credential $dir/appliance-key on $fstype, owned by $owner"
  [[ $fstype == ramfs || $fstype == tmpfs ]] || fail "$unit: credentials on $fstype, not in memory"
  [[ $owner == appliance ]] || fail "$unit: credential owned by $owner"
done
pid=$(in_pi systemctl show -P MainPID appliance-jobs)
in_pi cat "/proc/$pid/environ" | tr '\0' '\n' | contains '^CREDENTIALS_DIRECTORY=' \
  && fail "appliance-jobs gets credentials but decrypts nothing"

# Outside the services the CLI has no key, says so, and tells IT the command that has it.
refusal=$(as_appliance print 2>&1) && fail "print ran without the credential"
if ! grep -q 'keys.private_key_credential' <<<"$refusal" || ! grep -q 'systemd-run' <<<"$refusal"; then
  fail "print without the credential did not say how: $refusal"
fi
checked=$(with_key config check) || fail "config check with the credential: $checked"
grep -q 'private key: systemd credential appliance-key' <<<"$checked" \
  || fail "config check does not name the credential: $checked"

# No plaintext private key anywhere on the machine's disk (its root seen from the host: what a
# copied SD card holds; /run, where the credentials live, is a tmpfs inside the machine).
root=$("$RIG" root "$PI")
found=$(grep -rlsF --exclude-dir=proc --exclude-dir=sys -- "$PEM_HEADER" "$root" || true)
[[ -z $found ]] || fail "plaintext private key on disk: $found"
in_pi test -e /var/lib/appliance/keys/appliance.key && fail "the plaintext key file is still there"
echo "no '$PEM_HEADER' on the disk; credential: $(in_pi stat -c '%U:%G %a %s bytes' "$CRED")"

# A copy of the disk without the host secret: the sender machine $PC, with a host secret of its
# own, gets the credential and a stored snapshot, and cannot decrypt the key. The control: with
# the appliance's host secret and /etc/machine-id copied as well (what a whole-card copy
# without a TPM holds; systemd binds the secret to the machine ID and deletes one that does
# not match), the same commands open the snapshot, so the failure is the missing secret.
copy=$("$RIG" root "$PC")/var/tmp/stolen
rm -rf "$copy"; mkdir -p "$copy"
cp "$root$CRED" "$copy/appliance-key.cred"
snapshot=$(find "$root/var/lib/appliance/snapshots" -name '*.seal' | head -1)
cp "$snapshot" "$copy/snapshot.seal"
cat >"$copy/open.py" <<'EOF'
import sys
from appliance.core.crypto import keys, seal
ring = keys.parse_appliance_private_ring(sys.stdin.buffer.read(), "stdin")
envelope = seal.parse(open(sys.argv[1], "rb").read(), 1 << 26)
key = next(k for k in ring if k.public_key().fingerprint == envelope.header.recipient)
count = len(seal.decrypt(envelope, key))
print(f"{count} document(s) opened")
EOF
decrypt_and_open="systemd-creds decrypt --name=appliance-key /var/tmp/stolen/appliance-key.cred - \
  | /opt/appliance-sender/bin/python /var/tmp/stolen/open.py /var/tmp/stolen/snapshot.seal"
"$RIG" exec "$PC" systemd-creds setup >/dev/null 2>&1
if "$RIG" exec "$PC" bash -o pipefail -c "$decrypt_and_open" >"$WORK/stolen.out" 2>&1; then
  fail "the credential was decrypted without the appliance's host secret"
fi
grep -q 'Decryption failed' "$WORK/stolen.out" \
  || fail "without the host secret, expected 'Decryption failed': $(cat "$WORK/stolen.out")"
echo "without the host secret: $(grep -m1 'Decryption failed' "$WORK/stolen.out")"
cp "$root/var/lib/systemd/credential.secret" "$root/etc/machine-id" "$copy/"
"$RIG" exec "$PC" unshare -m --propagation private bash -o pipefail -c \
  "mount --bind /var/tmp/stolen/machine-id /etc/machine-id &&
   SYSTEMD_CREDENTIAL_SECRET=/var/tmp/stolen/credential.secret $decrypt_and_open" \
  >"$WORK/with-secret.out" 2>&1 || true
# The whole line: a traceback quotes the script's source, and with it these words.
grep -qx '[0-9][0-9]* document(s) opened' "$WORK/with-secret.out" \
  || fail "control: with the host secret the copy should open the snapshot: $(cat "$WORK/with-secret.out")"
echo "with the host secret and machine ID copied too (no TPM): $(tail -1 "$WORK/with-secret.out")"
rm -rf "$copy"

# Migration: an appliance provisioned when the key was a plaintext file. The next site.yml
# encrypts that file as it is (same fingerprint: no re-enrolment) and deletes it.
# The current key's fingerprint, read on the appliance: a key rotation (33-rotate) replaced
# the one site.yml last recorded in $WORK/keys.
before=$(in_pi /opt/appliance/venv/bin/python -c 'import sys
from appliance.core.crypto import keys
public = keys.parse_appliance_public_pem(open(sys.argv[1], "rb").read(), "appliance.pub")
print(keys.short_fingerprint(public.fingerprint))' /var/lib/appliance/keys/appliance.pub)
in_pi bash -o pipefail -c "systemd-creds decrypt --name=appliance-key $CRED - \
  | runuser -u appliance -- sh -c 'umask 077; cat >/var/lib/appliance/keys/appliance.key'"
in_pi rm "$CRED"
apply "$PI" migrate
grep -E "^$PI +:" "$WORK/migrate.log"
in_pi test -e /var/lib/appliance/keys/appliance.key && fail "migration left the plaintext key"
in_pi test -s "$CRED" || fail "migration made no credential"
[[ $(cat "$WORK/keys/$PI.fingerprint") == "$before" ]] || fail "migration changed the key"
wait_active appliance-web appliance-panel
with_key config check >/dev/null || fail "config check after the migration"
echo "migrated: same fingerprint $before, plaintext key gone"
