/* What the AWS CLI would use to reach S3: credentials, region, endpoint, CA bundle and
 * addressing style, resolved from the environment and the shared config and credentials
 * files with the CLI's precedence, so `gpumigrate sync s3://…` works wherever `aws s3 ls`
 * does. Credentials are static keys (environment or files) or the output of the profile's
 * credential_process (aws-vault, SSO wrappers, Vault helpers, `aws configure
 * export-credentials`); a profile that relies on another credential source (role_arn, SSO,
 * web identity) is reported as unsupported rather than silently used anonymously.
 *
 * Secrets never appear in an error message or a log line: messages name the variable or
 * the file and line a value came from, never the value, nor a credential_process's
 * arguments or output. */
#ifndef GM_OBJSTORE_AWSCONF_H
#define GM_OBJSTORE_AWSCONF_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Files larger than this are refused (GM_ERR_LIMIT). */
#define GM_AWS_CONFIG_MAX ((size_t)1 << 20)

struct gm_aws_config {
	/* Static credentials; access_key empty when none were found anywhere (the caller
	 * decides: anonymous requests are valid for public buckets). session_token empty when
	 * none. */
	struct gm_buf access_key, secret_key, session_token;
	struct gm_buf region;       /* never empty after a successful load ("us-east-1") */
	struct gm_buf endpoint_url; /* empty: the AWS endpoint for the region */
	struct gm_buf ca_bundle;    /* empty: the system's */
	struct gm_buf profile;      /* the profile used ("default" …) */
	/* Addressing style from the s3 block's addressing_style: -1 unset or "auto",
	 * 0 "virtual", 1 "path". */
	int path_style;
	/* For messages: where the credentials came from, "environment",
	 * "profile 'x' in '/home/u/.aws/credentials'" or "credential_process of profile 'x'
	 * ('/home/u/.aws/config:3')"; empty when there are none. Never a key. */
	struct gm_buf creds_source;
	/* Set when the credentials came from the profile's credential_process: its command line
	 * (wiped on release; never shown: its arguments may be secrets), "file:line" where it
	 * is set, when the credentials expire (Unix seconds; 0: never, as the program said by
	 * leaving Expiration out) and when the program was last run (Unix seconds). */
	struct gm_buf credential_process, process_where;
	int64_t expires, fetched;
};

/* How long a credential_process may run ($GPUMIGRATE_CREDHELPER_TIMEOUT_MS overrides it, for
 * tests: 1 to 3600000), and how much it may print. */
#define GM_AWS_PROCESS_TIMEOUT_MS 60000u
#define GM_AWS_PROCESS_MAX_OUTPUT ((size_t)64 << 10)
/* Credentials from a credential_process are fetched again when less than this many seconds
 * are left before they expire, at most once per GM_AWS_REFRESH_GAP_S unless they have. */
#define GM_AWS_REFRESH_BEFORE_S 300
#define GM_AWS_REFRESH_GAP_S    60

/* Empty config, no allocation. */
void gm_aws_config_init(struct gm_aws_config *c);
/* Frees the contents (wiping the secrets first); accepts NULL. */
void gm_aws_config_release(struct gm_aws_config *c);

/* Loads c (which must be initialised; earlier contents are replaced) for profile, or when
 * profile is NULL or "" for $AWS_PROFILE, or "default".
 *
 * Credentials, in the AWS CLI's order: AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN) when set; else aws_access_key_id, aws_secret_access_key,
 * aws_session_token of section [NAME] of the shared credentials file
 * ($AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials); else the profile's
 * credential_process (unless the profile also has a role_arn, which is refused as below);
 * else the keys of [profile NAME] ([default] for the default profile) of the config file
 * ($AWS_CONFIG_FILE, default ~/.aws/config).
 * credential_process is a command line, split as a POSIX shell would but expanding nothing
 * (gm_spawn_split) and run without a shell through gm_spawn_capture, with
 * GM_AWS_PROCESS_TIMEOUT_MS and GM_AWS_PROCESS_MAX_OUTPUT; its stderr shows at -v only. It
 * must exit 0 and print {"Version": 1, "AccessKeyId": …, "SecretAccessKey": …,
 * "SessionToken": … (optional), "Expiration": RFC 3339 time (optional)}.
 * Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, "us-east-1".
 * Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, endpoint_url in the s3 block of the
 * profile's [services NAME] section, endpoint_url in the profile's own nested s3 block, the
 * profile's endpoint_url; none at all when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the
 * profile's ignore_configured_endpoint_urls) is true.
 * CA bundle: AWS_CA_BUNDLE, the profile's ca_bundle.
 * Addressing style: addressing_style in the profile's nested s3 block.
 * Profile settings other than credentials come from the config file's section, overridden
 * by the same key in the credentials file's section (as the CLI merges them).
 *
 * The files are INI: [section] lines, "key = value" (or "key: value") lines, full-line '#'
 * and ';' comments, and " #" / " ;" comments after a value; key names are case-blind; a
 * key with an empty value followed by more indented "key = value" lines is a nested block
 * ("s3 =" / "  addressing_style = path").
 *
 * Errors: GM_ERR_NOT_FOUND when a profile other than "default" was asked for (argument or
 * AWS_PROFILE) and neither file has it, naming the files read; GM_ERR_PARSE for a
 * malformed file (file and line, not the line's text), a profile with only half a key
 * pair, or a bad region, endpoint or addressing style (naming where it came from);
 * GM_ERR_LIMIT for a file over GM_AWS_CONFIG_MAX; GM_ERR_PERMISSION / GM_ERR_IO when a file
 * exists but cannot be read; GM_ERR_USAGE for half a key pair in the environment;
 * GM_ERR_UNSUPPORTED when the chosen profile has no static keys or credential_process but
 * names another credential source and nothing else supplies credentials, or when a
 * credential_process prints a Version other than 1. For a credential_process: GM_ERR_PARSE
 * for a command line that does not split (an unbalanced quote …); GM_ERR_USAGE when its
 * program is not found, GM_ERR_PERMISSION when it cannot be run; GM_ERR_PROTOCOL when it
 * exits non-zero or prints no valid credentials (or ones already expired);
 * GM_ERR_UNREACHABLE when it overstays its deadline; GM_ERR_LIMIT when it prints too much.
 * These name the profile, the file and line and the program, never its arguments or
 * output. No credentials anywhere is not an error. A credentials file that group or others may read
 * is loaded with a warning (gm_warn) naming it. On error c is left empty (as after init). */
enum gm_rc gm_aws_config_load(struct gm_aws_config *c, const char *profile, struct gm_err *err);

/* Whether c's credentials came from a credential_process and should be fetched again at
 * time now (Unix seconds): less than GM_AWS_REFRESH_BEFORE_S seconds left, and the last run
 * at least GM_AWS_REFRESH_GAP_S ago or the credentials already expired. */
bool gm_aws_config_refresh_due(const struct gm_aws_config *c, int64_t now);

/* Runs c's credential_process again and replaces access_key, secret_key, session_token and
 * expires with what it prints; c->fetched becomes now whether it succeeds or not. Errors as
 * for the credential_process in gm_aws_config_load; on error the current credentials are
 * kept. GM_ERR_USAGE when c's credentials did not come from a credential_process. Not
 * thread-safe: callers that sign from several threads hold a lock around it and around
 * reading the keys. */
enum gm_rc gm_aws_config_refresh(struct gm_aws_config *c, struct gm_err *err);

#endif
