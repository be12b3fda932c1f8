#!/usr/bin/env bash
# deploy.sh - builds the container image with Cloud Build and deploys
# deploy/service.yaml to Cloud Run, then lets the Google front end pass
# unauthenticated requests (the service checks OIDC tokens itself, SPEC
# §5.6). Safe to run again: every step creates or updates. Never prints a
# secret value (secrets stay in Secret Manager).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<'USAGE'
usage: deploy/deploy.sh --project PROJECT --region REGION [--service NAME]
                        [--image IMAGE] [--url URL] [--skip-build] [--dry-run]

Environment: UPSTASH_REDIS_REST_URL (required); optional GOOGLE_CLIENT_ID,
TWILIO_ACCOUNT_SID + TWILIO_FROM_NUMBER, EMAIL_FROM, ENQUEUE_ALLOWED_EMAILS
(each enables its block of deploy/service.yaml; the matching secrets come
from deploy/setup.sh).
--image defaults to REGION-docker.pkg.dev/PROJECT/NAME/NAME:<git commit>;
--url defaults to Cloud Run's https://NAME-PROJECT_NUMBER.REGION.run.app;
--dry-run prints every command (and the rendered service.yaml) instead of
running it.
USAGE
}

IMAGE=""
SKIP_BUILD=0
SUBST_NAMES=(SERVICE REGION PROJECT_ID RUNTIME_SA TASKS_SA IMAGE CLOUD_RUN_URL
	UPSTASH_REDIS_REST_URL ENQUEUE_ALLOWED_EMAILS GOOGLE_CLIENT_ID TWILIO_ACCOUNT_SID
	TWILIO_FROM_NUMBER EMAIL_FROM)

parse_args() {
	local i=0
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

# Fills the placeholders; drops optional blocks whose variable is unset.
render() {
	local line skip="" out="" name value
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ "$line" =~ ^[[:space:]]*#\ begin\ optional\ ([A-Z_]+)$ ]]; then
			name="${BASH_REMATCH[1]}"
			[ -n "${!name:-}" ] || skip=1
			continue
		fi
		if [[ "$line" =~ ^[[:space:]]*#\ end\ optional$ ]]; then
			skip=""
			continue
		fi
		[ -z "$skip" ] && out+="$line"$'\n'
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
	printf '%s' "$out"
}

RENDERED=""

main() {
	parse_args "$@"
	check_timeout
	# shellcheck disable=SC2034 # read through ${!name} in render()
	PROJECT_ID="$PROJECT"
	CLOUD_RUN_URL="$(service_url)"
	echo "# deploying $SERVICE to $PROJECT/$REGION as $CLOUD_RUN_URL"
	if ! exists gcloud artifacts repositories describe "$SERVICE" --location="$REGION" \
		--project="$PROJECT"; then
		run gcloud artifacts repositories create "$SERVICE" --repository-format=docker \
			--location="$REGION" --project="$PROJECT"
	fi
	if [ "$SKIP_BUILD" = 0 ]; then
		run gcloud builds submit "$REPO_DIR" --tag="$IMAGE" --project="$PROJECT"
	fi
	RENDERED="$(mktemp "${TMPDIR:-/tmp}/service.XXXXXX.yaml")"
	trap 'rm -f "$RENDERED"' EXIT
	render >"$RENDERED"
	if [ "$DRY_RUN" = 1 ]; then
		echo "# rendered service.yaml:"
		sed 's/^/#   /' "$RENDERED"
	fi
	run gcloud run services replace "$RENDERED" --region="$REGION" --project="$PROJECT"
	run gcloud run services add-iam-policy-binding "$SERVICE" --member=allUsers \
		--role=roles/run.invoker --region="$REGION" --project="$PROJECT" --quiet
	echo "# next: deploy/queues.sh --project $PROJECT --region $REGION, then the ping smoke test (deploy/README.md)"
}

main "$@"
