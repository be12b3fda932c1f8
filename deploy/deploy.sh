#!/usr/bin/env bash
# deploy.sh - builds the container image with Cloud Build and deploys
# deploy/service.yaml to Cloud Run, then lets the Google front end pass
# unauthenticated requests (the service checks OIDC tokens itself, SPEC
# §5.6). Before building, it checks that every Secret Manager secret the
# service will read has an enabled latest version. Safe to run again: every
# step creates or updates. Never prints a secret value (secrets stay in
# Secret Manager).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<'USAGE'
usage: deploy/deploy.sh --project PROJECT --region REGION [--service NAME]
                        [--image IMAGE] [--url URL] [--skip-build] [--dry-run]

Environment: UPSTASH_REDIS_REST_URL (required); optional GOOGLE_CLIENT_ID,
TWILIO_ACCOUNT_SID + TWILIO_FROM_NUMBER, EMAIL_FROM, ENQUEUE_ALLOWED_EMAILS,
CONSOLE_OAUTH_CLIENT_ID (the operator console's OAuth client id)
(each enables its block of deploy/service.yaml; the matching secrets
GOOGLE_CLIENT_SECRET, TWILIO_AUTH_TOKEN, SENDGRID_API_KEY come from
deploy/setup.sh), CLOUD_SQL_INSTANCE (PROJECT:REGION:INSTANCE, comma list
allowed: mounts Cloud SQL's socket at /cloudsql/PROJECT:REGION:INSTANCE for
a DATABASE_URL with ?host=/cloudsql/...; unset: no Cloud SQL connection).
--image defaults to REGION-docker.pkg.dev/PROJECT/NAME/NAME:<git commit>;
--url defaults to Cloud Run's https://NAME-PROJECT_NUMBER.REGION.run.app.
Before building, the latest version of every secret service.yaml reads must
exist and be enabled (gcloud secrets versions describe latest --secret=S);
otherwise nothing is built or deployed (exit 2).
--dry-run runs no gcloud command at all, read-only ones included: it prints
every command, the secret checks among them, and writes the rendered
service.yaml to a file it keeps (under $TMPDIR, default /tmp) and names.
USAGE
}

IMAGE=""
SKIP_BUILD=0
SUBST_NAMES=(SERVICE REGION PROJECT_ID RUNTIME_SA TASKS_SA IMAGE CLOUD_RUN_URL
	UPSTASH_REDIS_REST_URL ENQUEUE_ALLOWED_EMAILS GOOGLE_CLIENT_ID TWILIO_ACCOUNT_SID
	TWILIO_FROM_NUMBER EMAIL_FROM CLOUD_SQL_INSTANCE CONSOLE_OAUTH_CLIENT_ID)

parse_args() {
	local i=0 inst insts=()
	parse_common_args "$@"
	while [ $i -lt ${#EXTRA_ARGS[@]} ]; do
		case "${EXTRA_ARGS[$i]}" in
		--image) i=$((i + 1)); IMAGE="${EXTRA_ARGS[$i]:-}" ;;
		--image=*) IMAGE="${EXTRA_ARGS[$i]#*=}" ;;
		--skip-build) SKIP_BUILD=1 ;;
		*) die "unknown argument: ${EXTRA_ARGS[$i]}" ;;
		esac
		i=$((i + 1))
	done
	[ -n "${UPSTASH_REDIS_REST_URL:-}" ] || die "UPSTASH_REDIS_REST_URL must be set (cloud mode needs shared Redis)"
	if [ -n "${CLOUD_SQL_INSTANCE:-}" ]; then
		[[ "$CLOUD_SQL_INSTANCE" != *, && "$CLOUD_SQL_INSTANCE" != *,,* ]] ||
			die "CLOUD_SQL_INSTANCE: empty entry in the comma list: $CLOUD_SQL_INSTANCE"
		IFS=, read -ra insts <<<"$CLOUD_SQL_INSTANCE"
		for inst in "${insts[@]}"; do
			[[ "$inst" =~ ^[a-z0-9.:-]+:[a-z]+-[a-z]+[0-9]+:[a-z]([a-z0-9-]*[a-z0-9])?$ ]] ||
				die "CLOUD_SQL_INSTANCE: not an instance connection name PROJECT:REGION:INSTANCE: $inst (gcloud sql instances describe INSTANCE --format='value(connectionName)' prints it)"
		done
	fi
	if [ -n "${CONSOLE_OAUTH_CLIENT_ID:-}" ]; then
		[[ "$CONSOLE_OAUTH_CLIENT_ID" =~ ^[^[:space:],\"]+$ ]] ||
			die "CONSOLE_OAUTH_CLIENT_ID: must be one OAuth client id (no spaces, commas or quotes): $CONSOLE_OAUTH_CLIENT_ID"
	fi
	if [ -z "$IMAGE" ]; then
		IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${SERVICE}/${SERVICE}:$(image_tag)"
	fi
}

image_tag() {
	git -C "$REPO_DIR" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S
}

# The longest dispatchDeadline / attemptDeadline in config/, in whole seconds.
longest_deadline() {
	grep -ohE '"(dispatchDeadline|attemptDeadline)": *"[0-9.]+s"' \
		"$REPO_DIR/config/queues.json" "$REPO_DIR/config/schedules.json" |
		grep -oE '[0-9.]+' | awk '{ s = int($1 + 0.999); if (s > m) m = s } END { print m + 0 }'
}

check_timeout() {
	local timeout longest
	# The request timeout sits at the template spec's indentation (6 spaces),
	# unlike the probes' timeoutSeconds.
	timeout="$(grep -E '^      timeoutSeconds: *[0-9]+ *$' "$DEPLOY_DIR/service.yaml" | grep -oE '[0-9]+')"
	longest="$(longest_deadline)"
	[ "$timeout" -ge "$longest" ] ||
		die "service.yaml timeoutSeconds $timeout is below the longest deadline in config/ ($longest s)"
}

# Fills the placeholders into RENDERED_TEXT; drops optional blocks whose
# variable is unset. Notes in SECRETS the Secret Manager secrets the result
# reads (secretKeyRef names) and in SECRET_BLOCK the variable that turned an
# optional one on.
RENDERED_TEXT=""
SECRETS=()
declare -A SECRET_BLOCK=()
render() {
	local line skip="" block="" ref="" out="" name value
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ "$line" =~ ^[[:space:]]*#\ begin\ optional\ ([A-Z_]+)$ ]]; then
			block="${BASH_REMATCH[1]}"
			[ -n "${!block:-}" ] || skip=1
			continue
		fi
		if [[ "$line" =~ ^[[:space:]]*#\ end\ optional$ ]]; then
			skip="" block=""
			continue
		fi
		[ -z "$skip" ] || continue
		out+="$line"$'\n'
		if [[ "$line" =~ ^[[:space:]]*secretKeyRef:[[:space:]]*$ ]]; then
			ref=1
		elif [ -n "$ref" ] && [[ "$line" =~ ^[[:space:]]*name:[[:space:]]*([A-Za-z0-9_-]+)[[:space:]]*$ ]]; then
			SECRETS+=("${BASH_REMATCH[1]}")
			SECRET_BLOCK["${BASH_REMATCH[1]}"]="$block"
			ref=""
		fi
	done <"$DEPLOY_DIR/service.yaml"
	for name in "${SUBST_NAMES[@]}"; do
		value="${!name:-}"
		case "$value" in
		*\"* | *\\* | *$'\n'*) die "$name: quotes, backslashes and newlines are not allowed" ;;
		esac
		out="${out//"\${$name}"/"$value"}"
	done
	if [[ "$out" == *"\${"* ]]; then
		die "service.yaml: placeholder left after rendering: $(grep -oE "[$]\{[A-Z_]*\}" <<<"$out" | head -1)"
	fi
	RENDERED_TEXT="$out"
}

# Cloud Run reads each secret's `latest` version (the most recently created
# one) when an instance starts; if there is none, or it is disabled, no
# instance starts, and that would only show after a build and a deploy. So
# every referenced secret's `latest` is looked up first, read-only, the way
# Cloud Run resolves it (secretmanager.versions.get). --dry-run prints these
# checks without running them, like every other command.
check_secrets() {
	local s state why bad=0
	if [ "$DRY_RUN" = 1 ]; then
		echo "# secret checks, not run (--dry-run runs no gcloud): the latest version of each secret service.yaml reads must exist and be ENABLED"
	else
		echo "# checking that the latest version of each secret service.yaml reads exists and is ENABLED"
	fi
	for s in "${SECRETS[@]}"; do
		show gcloud secrets versions describe latest --secret="$s" --project="$PROJECT" --format='value(state)'
		[ "$DRY_RUN" = 0 ] || continue
		if ! state="$(gcloud secrets versions describe latest --secret="$s" --project="$PROJECT" \
			--format='value(state)')"; then
			why="has no readable latest version (gcloud's message above: no such secret, no version yet, or no permission to read its metadata)"
		elif [ "$state" = ENABLED ]; then
			continue
		else
			why="has its latest version ${state:-in an unknown state}, not ENABLED (enable it, or add a new version)"
		fi
		echo "secret $s $why" >&2
		echo "  add a version: $s=... deploy/setup.sh --project $PROJECT --region $REGION" >&2
		if [ -n "${SECRET_BLOCK[$s]:-}" ]; then
			echo "  or unset ${SECRET_BLOCK[$s]}: service.yaml reads $s only because ${SECRET_BLOCK[$s]} is set" >&2
		fi
		bad=1
	done
	[ "$bad" = 0 ] || die "a secret the service reads has no usable latest version; nothing was built or deployed"
}

# Writes RENDERED_TEXT to a file for `gcloud run services replace`. A real
# run deletes it on exit; --dry-run keeps it, so that every path it prints
# exists afterwards and the printed command can be run by hand.
write_rendered() {
	RENDERED="$(mktemp "${TMPDIR:-/tmp}/${SERVICE}-service.XXXXXX.yaml")"
	if [ "$DRY_RUN" = 0 ]; then
		trap 'rm -f "$RENDERED"' EXIT
	fi
	printf '%s' "$RENDERED_TEXT" >"$RENDERED"
	if [ "$DRY_RUN" = 1 ]; then
		echo "# rendered service.yaml, kept at $RENDERED (delete it when done):"
		sed 's/^/#   /' "$RENDERED"
	fi
}

RENDERED=""

main() {
	parse_args "$@"
	check_timeout
	# shellcheck disable=SC2034 # read through ${!name} in render()
	PROJECT_ID="$PROJECT"
	CLOUD_RUN_URL="$(service_url)"
	echo "# deploying $SERVICE to $PROJECT/$REGION as $CLOUD_RUN_URL"
	render
	check_secrets
	if ! exists gcloud artifacts repositories describe "$SERVICE" --location="$REGION" \
		--project="$PROJECT"; then
		run gcloud artifacts repositories create "$SERVICE" --repository-format=docker \
			--location="$REGION" --project="$PROJECT"
	fi
	if [ "$SKIP_BUILD" = 0 ]; then
		run gcloud builds submit "$REPO_DIR" --tag="$IMAGE" --project="$PROJECT"
	fi
	write_rendered
	run gcloud run services replace "$RENDERED" --region="$REGION" --project="$PROJECT"
	run gcloud run services add-iam-policy-binding "$SERVICE" --member=allUsers \
		--role=roles/run.invoker --region="$REGION" --project="$PROJECT" --quiet
	echo "# next: deploy/queues.sh --project $PROJECT --region $REGION, then the ping smoke test (deploy/README.md)"
}

main "$@"
