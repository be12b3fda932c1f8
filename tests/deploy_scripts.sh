#!/usr/bin/env bash
# deploy_scripts.sh - checks deploy/ and scripts/run-local.sh: every script
# parses (bash -n) and passes shellcheck; each --dry-run prints the expected
# commands and never runs gcloud (a fake gcloud on PATH records any call and
# fails); no secret value reaches the output; every file a dry run names
# still exists afterwards; deploy.sh checks the secrets the service reads
# before building (a second fake gcloud plays Secret Manager) and sets the
# Cloud SQL annotation only with CLOUD_SQL_INSTANCE; service.yaml has what
# Cloud Run needs and a request timeout no shorter than the longest deadline
# in config/. Prints one PASS/FAIL line per check.
set -uo pipefail

root="${CJ_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
deploy="$root/deploy"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fails=0

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# status NAME ACTUAL EXPECTED
status() {
	if [ "$2" = "$3" ]; then pass "$1 exits $3"; else fail "$1 exits $2, not $3"; fi
}

# expect NAME FILE PATTERN... : every fixed string must occur in FILE.
expect() {
	local name="$1" file="$2" p
	shift 2
	for p in "$@"; do
		if ! grep -qF -- "$p" "$file"; then
			fail "$name: output lacks: $p"
			sed 's/^/    | /' "$file" | head -40
			return
		fi
	done
	pass "$name"
}

# A gcloud that must never run during a dry run.
mkdir -p "$work/bin"
cat >"$work/bin/gcloud" <<FAKE
#!/bin/sh
echo "gcloud \$*" >> "$work/gcloud-called"
echo "fake gcloud: must not run in --dry-run" >&2
exit 97
FAKE
chmod +x "$work/bin/gcloud"
export PATH="$work/bin:$PATH"

no_gcloud_ran() {
	if [ -e "$work/gcloud-called" ]; then
		fail "$1: gcloud was run: $(head -1 "$work/gcloud-called")"
		rm -f "$work/gcloud-called"
	else
		pass "$1: gcloud not run"
	fi
}

# absent NAME FILE PATTERN... : no fixed string may occur in FILE.
absent() {
	local name="$1" file="$2" p
	shift 2
	for p in "$@"; do
		if grep -qF -- "$p" "$file"; then
			fail "$name: output has: $(grep -F -- "$p" "$file" | head -1)"
			return
		fi
	done
	pass "$name"
}

# line_of FILE PATTERN: number of the first line holding the fixed string (0: none).
line_of() {
	local n
	n="$(grep -nF -- "$2" "$1" | head -1 | cut -d: -f1)"
	echo "${n:-0}"
}

# --- syntax and lint ---
for f in "$deploy"/*.sh "$root/scripts/run-local.sh"; do
	if bash -n "$f"; then pass "bash -n ${f#"$root"/}"; else fail "bash -n ${f#"$root"/}"; fi
done
if command -v shellcheck >/dev/null; then
	if (cd "$deploy" && shellcheck -x ./*.sh); then
		pass "shellcheck deploy/*.sh"
	else
		fail "shellcheck deploy/*.sh"
	fi
	if shellcheck "$root/scripts/run-local.sh"; then
		pass "shellcheck scripts/run-local.sh"
	else
		fail "shellcheck scripts/run-local.sh"
	fi
else
	echo "SKIP: shellcheck not installed (apt-get install shellcheck)"
fi

# --- usage errors ---
for s in setup.sh deploy.sh queues.sh; do
	"$deploy/$s" --region europe-west1 --dry-run >"$work/out" 2>&1
	st=$?
	if [ "$st" = 2 ] && grep -q -- "--project" "$work/out"; then
		pass "$s without --project: exit 2 naming --project"
	else
		fail "$s without --project: exit $st: $(head -1 "$work/out")"
	fi
done

# --- setup.sh ---
secret="s3cr3t-value-$$"
UPSTASH_REDIS_REST_TOKEN="$secret" DATABASE_URL="postgres://u:$secret@db/x" \
	"$deploy/setup.sh" --dry-run --project my-proj-123 --region europe-west1 >"$work/setup.out" 2>&1
st=$?
status "setup.sh --dry-run" "$st" 0
expect "setup.sh --dry-run commands" "$work/setup.out" \
	"+ gcloud services enable run.googleapis.com cloudtasks.googleapis.com cloudscheduler.googleapis.com secretmanager.googleapis.com" \
	"+ gcloud iam service-accounts create catchup-jobs-runtime" \
	"+ gcloud iam service-accounts create catchup-jobs-tasks" \
	"--member=serviceAccount:catchup-jobs-runtime@my-proj-123.iam.gserviceaccount.com --role=roles/cloudtasks.enqueuer" \
	"+ gcloud iam service-accounts add-iam-policy-binding catchup-jobs-tasks@my-proj-123.iam.gserviceaccount.com --member=serviceAccount:catchup-jobs-runtime@my-proj-123.iam.gserviceaccount.com --role=roles/iam.serviceAccountUser" \
	"+ gcloud secrets create UPSTASH_REDIS_REST_TOKEN --replication-policy=automatic" \
	"+ gcloud secrets versions add UPSTASH_REDIS_REST_TOKEN --data-file=-" \
	"+ gcloud secrets create TOKEN_ENCRYPTION_KEY" \
	"+ gcloud secrets add-iam-policy-binding DATABASE_URL --member=serviceAccount:catchup-jobs-runtime@my-proj-123.iam.gserviceaccount.com --role=roles/secretmanager.secretAccessor"
if grep -qF -- "$secret" "$work/setup.out"; then
	fail "setup.sh --dry-run printed a secret value"
else
	pass "setup.sh --dry-run prints no secret value"
fi
no_gcloud_ran "setup.sh --dry-run"

# --- deploy.sh ---
# Dry runs write under their own TMPDIR, so what they leave can be checked.
mkdir -p "$work/tmp"
UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TWILIO_ACCOUNT_SID=AC0123 \
	TWILIO_FROM_NUMBER=+15550001111 TMPDIR="$work/tmp" \
	"$deploy/deploy.sh" --dry-run --project my-proj-123 --region europe-west1 \
	--image europe-west1-docker.pkg.dev/my-proj-123/catchup-jobs/catchup-jobs:test \
	>"$work/deploy.out" 2>&1
st=$?
status "deploy.sh --dry-run" "$st" 0
expect "deploy.sh --dry-run commands" "$work/deploy.out" \
	"+ gcloud artifacts repositories create catchup-jobs --repository-format=docker --location=europe-west1" \
	"+ gcloud builds submit $root --tag=europe-west1-docker.pkg.dev/my-proj-123/catchup-jobs/catchup-jobs:test" \
	"+ gcloud run services replace " \
	"+ gcloud run services add-iam-policy-binding catchup-jobs --member=allUsers --role=roles/run.invoker"
expect "deploy.sh renders service.yaml" "$work/deploy.out" \
	"image: europe-west1-docker.pkg.dev/my-proj-123/catchup-jobs/catchup-jobs:test" \
	"serviceAccountName: catchup-jobs-runtime@my-proj-123.iam.gserviceaccount.com" \
	'value: "catchup-jobs-tasks@my-proj-123.iam.gserviceaccount.com"' \
	'value: "https://catchup-jobs-PROJECT_NUMBER.europe-west1.run.app"' \
	'value: "https://eu1-example.upstash.io"' \
	'value: "+15550001111"' \
	"name: TWILIO_AUTH_TOKEN"
if grep -q '[$]{' "$work/deploy.out"; then
	fail "deploy.sh left a placeholder: $(grep -o '[$]{[A-Z_]*}' "$work/deploy.out" | head -1)"
else
	pass "deploy.sh fills every placeholder"
fi
if grep -qE 'SENDGRID_API_KEY|GOOGLE_CLIENT_SECRET|# begin optional [A-Z_]{2,}' "$work/deploy.out"; then
	fail "deploy.sh kept an optional block whose variable is unset"
else
	pass "deploy.sh drops optional blocks whose variable is unset"
fi
no_gcloud_ran "deploy.sh --dry-run"

# The secret check: printed (not run) in --dry-run, for exactly the secrets
# the rendered service.yaml reads, before anything is built.
check="+ gcloud secrets versions describe latest --secret="
expect "deploy.sh --dry-run prints the secret checks" "$work/deploy.out" \
	"${check}UPSTASH_REDIS_REST_TOKEN --project=my-proj-123" \
	"${check}TOKEN_ENCRYPTION_KEY --project=my-proj-123" \
	"${check}DATABASE_URL --project=my-proj-123" \
	"${check}TWILIO_AUTH_TOKEN --project=my-proj-123" \
	"not run (--dry-run runs no gcloud)"
absent "deploy.sh --dry-run checks no secret it does not read" "$work/deploy.out" \
	"${check}SENDGRID_API_KEY" "${check}GOOGLE_CLIENT_SECRET"
first_check="$(line_of "$work/deploy.out" "$check")"
build_line="$(line_of "$work/deploy.out" "+ gcloud builds submit")"
if [ "$first_check" -gt 0 ] && [ "$first_check" -lt "$build_line" ]; then
	pass "deploy.sh checks the secrets before building"
else
	fail "deploy.sh secret check (line $first_check) is not before the build (line $build_line)"
fi

# Every file a dry run names must exist after it (no deleted temporary
# file): the rendered service.yaml is kept, and is what the replace uses.
kept="$(sed -n 's/^# rendered service.yaml, kept at \(.*\) (delete it when done):$/\1/p' "$work/deploy.out")"
if [ -n "$kept" ] && [ -f "$kept" ] && grep -qF "image: europe-west1-docker.pkg.dev/my-proj-123/catchup-jobs/catchup-jobs:test" "$kept"; then
	pass "deploy.sh --dry-run keeps the rendered service.yaml it names"
else
	fail "deploy.sh --dry-run: rendered service.yaml not kept: '$kept'"
fi
expect "deploy.sh --dry-run replaces with the kept file" "$work/deploy.out" \
	"+ gcloud run services replace $kept --region=europe-west1"
gone=""
while IFS= read -r path; do
	[ -e "$path" ] || gone+=" $path"
done < <(grep -oE "(/tmp/|$work/)[^[:space:]\"']*" "$work/deploy.out" | sed 's/[),:;.]*$//' | sort -u)
if [ -z "$gone" ]; then
	pass "deploy.sh --dry-run names no file that is gone"
else
	fail "deploy.sh --dry-run names files that no longer exist:$gone"
fi

# CLOUD_SQL_INSTANCE: the cloudsql-instances annotation only when set.
absent "deploy.sh without CLOUD_SQL_INSTANCE: no Cloud SQL annotation" "$work/deploy.out" \
	"run.googleapis.com/cloudsql-instances"
UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TMPDIR="$work/tmp" \
	CLOUD_SQL_INSTANCE=my-proj-123:europe-west1:catchup-db \
	"$deploy/deploy.sh" --dry-run --project my-proj-123 --region europe-west1 --image img:1 \
	>"$work/sql.out" 2>&1
status "deploy.sh --dry-run with CLOUD_SQL_INSTANCE" "$?" 0
expect "deploy.sh with CLOUD_SQL_INSTANCE sets the annotation" "$work/sql.out" \
	'#           run.googleapis.com/cloudsql-instances: "my-proj-123:europe-west1:catchup-db"'
UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TMPDIR="$work/tmp" \
	CLOUD_SQL_INSTANCE=catchup-db \
	"$deploy/deploy.sh" --dry-run --project my-proj-123 --region europe-west1 --image img:1 \
	>"$work/out" 2>&1
status "deploy.sh with CLOUD_SQL_INSTANCE not PROJECT:REGION:INSTANCE" "$?" 2
expect "deploy.sh names the bad CLOUD_SQL_INSTANCE" "$work/out" "CLOUD_SQL_INSTANCE"
setup_sql="$(CLOUD_SQL_INSTANCE=my-proj-123:europe-west1:catchup-db \
	"$deploy/setup.sh" --dry-run --project my-proj-123 --region europe-west1 2>&1)"
if grep -q '^+ gcloud services enable .*sqladmin.googleapis.com' <<<"$setup_sql" &&
	! grep -q 'sqladmin' "$work/setup.out"; then
	pass "setup.sh enables the Cloud SQL Admin API only with CLOUD_SQL_INSTANCE"
else
	fail "setup.sh and sqladmin.googleapis.com: $(grep 'services enable' <<<"$setup_sql")"
fi

# CONSOLE_OAUTH_CLIENT_ID: the operator console's client id, only when set,
# and one word.
absent "deploy.sh without CONSOLE_OAUTH_CLIENT_ID: no console client" "$work/deploy.out" \
	"CONSOLE_OAUTH_CLIENT_ID"
UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TMPDIR="$work/tmp" \
	CONSOLE_OAUTH_CLIENT_ID=123-abc.apps.googleusercontent.com \
	"$deploy/deploy.sh" --dry-run --project my-proj-123 --region europe-west1 --image img:1 \
	>"$work/console.out" 2>&1
status "deploy.sh --dry-run with CONSOLE_OAUTH_CLIENT_ID" "$?" 0
expect "deploy.sh with CONSOLE_OAUTH_CLIENT_ID sets the variable" "$work/console.out" \
	"name: CONSOLE_OAUTH_CLIENT_ID" 'value: "123-abc.apps.googleusercontent.com"'
UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TMPDIR="$work/tmp" \
	CONSOLE_OAUTH_CLIENT_ID="a,b" \
	"$deploy/deploy.sh" --dry-run --project my-proj-123 --region europe-west1 --image img:1 \
	>"$work/out" 2>&1
status "deploy.sh with a CONSOLE_OAUTH_CLIENT_ID list" "$?" 2
expect "deploy.sh names the bad CONSOLE_OAUTH_CLIENT_ID" "$work/out" "CONSOLE_OAUTH_CLIENT_ID"

# Without --dry-run, against a fake gcloud that plays Secret Manager: the
# check runs, and a missing or disabled secret stops the script before the
# build. FAKE_MISSING / FAKE_DISABLED name the secret to fail.
mkdir -p "$work/fakebin"
cat >"$work/fakebin/gcloud" <<FAKE
#!/bin/bash
echo "gcloud \$*" >> "$work/fake-calls"
case "\$1 \$2 \$3" in
"secrets versions describe")
	s=""
	for a in "\$@"; do case "\$a" in --secret=*) s="\${a#--secret=}" ;; esac; done
	if [ "\$s" = "\${FAKE_MISSING:-}" ]; then
		echo "ERROR: (gcloud.secrets.versions.describe) NOT_FOUND: Secret Version [latest] not found." >&2
		exit 1
	fi
	if [ "\$s" = "\${FAKE_DISABLED:-}" ]; then echo DISABLED; else echo ENABLED; fi
	;;
"run services replace") cp "\$4" "$work/replaced.yaml" ;;
esac
exit 0
FAKE
chmod +x "$work/fakebin/gcloud"
real_deploy() {
	rm -f "$work/fake-calls" "$work/replaced.yaml"
	PATH="$work/fakebin:$PATH" TMPDIR="$work/tmp" \
		UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TWILIO_ACCOUNT_SID=AC0123 \
		TWILIO_FROM_NUMBER=+15550001111 CLOUD_SQL_INSTANCE=my-proj-123:europe-west1:catchup-db \
		"$@" "$deploy/deploy.sh" --project my-proj-123 --region europe-west1 \
		--url https://jobs.example.com --image img:1 >"$work/real.out" 2>&1
}
real_deploy env
status "deploy.sh (fake gcloud, every secret ENABLED)" "$?" 0
expect "deploy.sh checks each secret it reads, then builds and deploys" "$work/fake-calls" \
	"gcloud secrets versions describe latest --secret=TWILIO_AUTH_TOKEN --project=my-proj-123 --format=value(state)" \
	"gcloud secrets versions describe latest --secret=DATABASE_URL" \
	"gcloud builds submit" "gcloud run services replace"
if [ -f "$work/replaced.yaml" ] &&
	grep -qF 'run.googleapis.com/cloudsql-instances: "my-proj-123:europe-west1:catchup-db"' "$work/replaced.yaml"; then
	pass "deploy.sh deploys the Cloud SQL annotation"
else
	fail "deploy.sh: the deployed service.yaml lacks the Cloud SQL annotation"
fi
replaced_path="$(sed -n 's/^gcloud run services replace \([^ ]*\) .*/\1/p' "$work/fake-calls")"
if [ -n "$replaced_path" ] && [ ! -e "$replaced_path" ]; then
	pass "deploy.sh (real run) deletes its rendered service.yaml"
else
	fail "deploy.sh (real run) left '$replaced_path'"
fi
real_deploy env FAKE_MISSING=TWILIO_AUTH_TOKEN
status "deploy.sh with a secret without version" "$?" 2
expect "deploy.sh names the secret without version and what turned it on" "$work/real.out" \
	"secret TWILIO_AUTH_TOKEN has no readable latest version" "unset TWILIO_ACCOUNT_SID" \
	"nothing was built or deployed"
absent "deploy.sh builds nothing when a secret has no version" "$work/fake-calls" \
	"gcloud builds submit" "gcloud run services replace" "gcloud artifacts"
real_deploy env FAKE_DISABLED=DATABASE_URL
status "deploy.sh with a disabled latest secret version" "$?" 2
expect "deploy.sh names the disabled secret" "$work/real.out" \
	"secret DATABASE_URL has its latest version DISABLED"
absent "deploy.sh builds nothing when a secret is disabled" "$work/fake-calls" "gcloud builds submit"

"$deploy/deploy.sh" --dry-run --project my-proj-123 --region europe-west1 >"$work/out" 2>&1
status "deploy.sh without UPSTASH_REDIS_REST_URL" "$?" 2
expect "deploy.sh names the missing UPSTASH_REDIS_REST_URL" "$work/out" UPSTASH_REDIS_REST_URL

# --- queues.sh: a stub binary shows what the script passes to `queues` ---
cat >"$work/bin/stub-catchup-jobs" <<'STUB'
#!/bin/sh
[ "$1" = queues ] || exit 64
echo "# env GCP_PROJECT_ID=$GCP_PROJECT_ID GCP_REGION=$GCP_REGION CLOUD_RUN_URL=$CLOUD_RUN_URL SERVICE_ACCOUNT_EMAIL=$SERVICE_ACCOUNT_EMAIL OIDC_AUDIENCE=$OIDC_AUDIENCE CONFIG_DIR=$CONFIG_DIR"
echo "gcloud tasks queues create 'stub-queue' --location='$GCP_REGION'"
STUB
chmod +x "$work/bin/stub-catchup-jobs"
"$deploy/queues.sh" --dry-run --project my-proj-123 --region europe-west1 \
	--url https://jobs.example.com --bin "$work/bin/stub-catchup-jobs" >"$work/queues.out" 2>&1
st=$?
status "queues.sh --dry-run" "$st" 0
expect "queues.sh passes the service's values to catchup-jobs queues" "$work/queues.out" \
	"GCP_PROJECT_ID=my-proj-123 GCP_REGION=europe-west1 CLOUD_RUN_URL=https://jobs.example.com SERVICE_ACCOUNT_EMAIL=catchup-jobs-tasks@my-proj-123.iam.gserviceaccount.com OIDC_AUDIENCE=https://jobs.example.com CONFIG_DIR=$root/config" \
	"gcloud tasks queues create 'stub-queue' --location='europe-west1'"
no_gcloud_ran "queues.sh --dry-run (stub)"

CATCHUP_JOBS_BIN="$work/no-such-binary" "$deploy/queues.sh" --dry-run --project my-proj-123 \
	--region europe-west1 >"$work/out" 2>&1
status "queues.sh without a binary" "$?" 2
expect "queues.sh says how to build a binary without the test packages" "$work/out" \
	"scripts/run-local.sh --build-only" "-Dtests=false"

# With the real binary: what queues.sh really runs.
if [ -z "${CJ_BIN:-}" ] || [ ! -x "$CJ_BIN" ]; then
	fail "CJ_BIN (the built catchup-jobs) is not set"
else
	"$deploy/queues.sh" --dry-run --project my-proj-123 --region europe-west1 \
		--url https://jobs.example.com --bin "$CJ_BIN" >"$work/queues.out" 2>&1
	st=$?
	status "queues.sh --dry-run with catchup-jobs" "$st" 0
	expect "queues.sh --dry-run prints the queue and scheduler commands" "$work/queues.out" \
		"gcloud tasks queues create 'token-refresh-queue' --location='europe-west1' --project='my-proj-123'" \
		"gcloud tasks queues update 'ping-queue'" \
		"gcloud scheduler jobs create http 'token-refresh-every-10m'" \
		"--uri='https://jobs.example.com/jobs/token-refresh'" \
		"--oidc-service-account-email='catchup-jobs-tasks@my-proj-123.iam.gserviceaccount.com'"
	no_gcloud_ran "queues.sh --dry-run"
fi

# --- service.yaml ---
yaml="$deploy/service.yaml"
expect "service.yaml shape" "$yaml" \
	"kind: Service" "containerPort: 8080" 'name: USE_CLOUD_TASKS' 'value: "true"' \
	"value: /app/config" "containerConcurrency: 80" "path: /health/ready" \
	"path: /health/live" 'autoscaling.knative.dev/minScale: "0"' "serviceAccountName:" \
	"secretKeyRef:"
timeout="$(grep -E '^      timeoutSeconds: *[0-9]+ *$' "$yaml" | grep -oE '[0-9]+')"
longest="$(grep -ohE '"(dispatchDeadline|attemptDeadline)": *"[0-9.]+s"' "$root/config/queues.json" \
	"$root/config/schedules.json" | grep -oE '[0-9.]+' | sort -g | tail -1)"
if [ -n "$timeout" ] && [ -n "$longest" ] && awk -v t="$timeout" -v l="$longest" 'BEGIN { exit !(t >= l) }'; then
	pass "service.yaml timeoutSeconds $timeout >= longest deadline ${longest}s"
else
	fail "service.yaml timeoutSeconds '$timeout' < longest deadline '${longest}s'"
fi

# --- README: the configuration table renders whole, commands use build-local/ ---
readme="$root/README.md"
# The rows from the table's header to its first non-table line.
config_rows="$(awk '/^\| variable \| default \(local \/ cloud\) \| meaning \|$/ { t = 1 }
	t && !/^\|/ { exit } t { print }' "$readme")"
missing=""
for v in USE_CLOUD_TASKS IDEMPOTENCY_TTL_SECONDS IDEMPOTENCY_LEASE_SECONDS CONFIG_DIR DATABASE_URL \
	TOKEN_ENCRYPTION_KEY GOOGLE_CLIENT_ID TWILIO_API_URL TWILIO_ACCOUNT_SID SENDGRID_API_URL \
	SENDGRID_API_KEY CONSOLE_OAUTH_CLIENT_ID; do
	grep -q "^| \`$v\`" <<<"$config_rows" || missing+=" $v"
done
if [ -z "$missing" ]; then
	pass "README configuration table is one table with every row"
else
	fail "README configuration table lacks (or splits off):$missing"
fi
lease_after_ttl="$(grep -oE '^\| .IDEMPOTENCY_(TTL|LEASE)_SECONDS.' <<<"$config_rows" | tr -d '|` ' | tr '\n' ' ')"
if [ "$lease_after_ttl" = "IDEMPOTENCY_TTL_SECONDS IDEMPOTENCY_LEASE_SECONDS " ]; then
	pass "README lists IDEMPOTENCY_LEASE_SECONDS right after IDEMPOTENCY_TTL_SECONDS"
else
	fail "README idempotency rows out of order: $lease_after_ttl"
fi
absent "README runs the binary scripts/run-local.sh builds (build-local/)" "$readme" \
	"./build/catchup-jobs"
expect "README's identity tokens carry the email claim" "$readme" \
	"--include-email" "roles/iam.serviceAccountTokenCreator"

if [ "$fails" -gt 0 ]; then
	echo "deploy_scripts: $fails failure(s)"
	exit 1
fi
echo "deploy_scripts: all checks passed"
