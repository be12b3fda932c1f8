#!/usr/bin/env bash
# deploy_scripts.sh - checks deploy/: every script parses (bash -n) and is
# passes shellcheck; each --dry-run prints the expected commands and never
# runs gcloud (a fake gcloud on PATH records any call and fails); no secret
# value reaches the output; service.yaml has what Cloud Run needs and a
# request timeout no shorter than the longest deadline in config/. Prints
# one PASS/FAIL line per check.
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

# --- syntax and lint ---
for f in "$deploy"/*.sh; do
	if bash -n "$f"; then pass "bash -n $(basename "$f")"; else fail "bash -n $(basename "$f")"; fi
done
if command -v shellcheck >/dev/null; then
	if (cd "$deploy" && shellcheck -x ./*.sh); then
		pass "shellcheck deploy/*.sh"
	else
		fail "shellcheck deploy/*.sh"
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
UPSTASH_REDIS_REST_URL=https://eu1-example.upstash.io TWILIO_ACCOUNT_SID=AC0123 \
	TWILIO_FROM_NUMBER=+15550001111 \
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

if [ "$fails" -gt 0 ]; then
	echo "deploy_scripts: $fails failure(s)"
	exit 1
fi
echo "deploy_scripts: all checks passed"
