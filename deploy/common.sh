# shellcheck shell=bash disable=SC2034
# common.sh - shared by deploy/*.sh (sourced, never run): argument parsing,
# --dry-run, names derived from the project, and a command runner that
# prints instead of running in dry-run mode. Never prints a secret value.
# (SC2034 is off: the variables set here are read by the sourcing scripts.)

DRY_RUN=0
PROJECT="${GCP_PROJECT_ID:-}"
REGION="${GCP_REGION:-}"
SERVICE="${CJ_SERVICE:-catchup-jobs}"
RUN_URL="${CLOUD_RUN_URL:-}"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
EXTRA_ARGS=()

die() {
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
	exit 2
}

# Parses the options every script shares; the rest goes to EXTRA_ARGS.
parse_common_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--dry-run) DRY_RUN=1 ;;
		--project) PROJECT="${2:?--project needs a value}"; shift ;;
		--project=*) PROJECT="${1#*=}" ;;
		--region) REGION="${2:?--region needs a value}"; shift ;;
		--region=*) REGION="${1#*=}" ;;
		--service) SERVICE="${2:?--service needs a value}"; shift ;;
		--service=*) SERVICE="${1#*=}" ;;
		--url) RUN_URL="${2:?--url needs a value}"; shift ;;
		--url=*) RUN_URL="${1#*=}" ;;
		-h | --help) usage; exit 0 ;;
		*) EXTRA_ARGS+=("$1") ;;
		esac
		shift
	done
	[ -n "$PROJECT" ] || die "--project (or GCP_PROJECT_ID) is required; see --help"
	[ -n "$REGION" ] || die "--region (or GCP_REGION) is required; see --help"
	[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "--project: not a project id: $PROJECT"
	[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die "--region: not a region: $REGION"
	[[ "$SERVICE" =~ ^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$ ]] || die "--service: not a service name: $SERVICE"
	[ "${#SERVICE}" -le 22 ] || die "--service: at most 22 characters (service account ids are <= 30)"
	RUNTIME_SA="${SERVICE}-runtime@${PROJECT}.iam.gserviceaccount.com"
	TASKS_SA="${SERVICE}-tasks@${PROJECT}.iam.gserviceaccount.com"
}

# Prints a command the way a shell would read it back.
show() {
	local out="+" a
	for a in "$@"; do
		out+=" $(printf '%q' "$a")"
	done
	printf '%s\n' "$out"
}

# Runs a command, or only prints it with --dry-run.
run() {
	show "$@"
	if [ "$DRY_RUN" = 0 ]; then
		"$@"
	fi
}

# Runs a read-only check; in dry-run mode nothing runs and it counts as
# "not there", so the creating command is printed.
exists() {
	if [ "$DRY_RUN" = 1 ]; then
		return 1
	fi
	"$@" >/dev/null 2>&1
}

# Cloud Run's deterministic service URL, unless --url / CLOUD_RUN_URL says.
service_url() {
	local number
	if [ -n "$RUN_URL" ]; then
		printf '%s\n' "${RUN_URL%/}"
		return
	fi
	if [ "$DRY_RUN" = 1 ]; then
		number="PROJECT_NUMBER"
	else
		number="$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')"
	fi
	printf 'https://%s-%s.%s.run.app\n' "$SERVICE" "$number" "$REGION"
}
