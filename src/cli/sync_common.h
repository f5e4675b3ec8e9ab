/* What `gpumigrate sync` and `gpumigrate verify` share on the command line: the options that
 * pick and reach the trees (filters, jobs, the SSH transport's knobs) and the rendering of
 * paths, sizes, progress and summaries, so the two commands read and print alike. */
#ifndef GM_CLI_SYNC_COMMON_H
#define GM_CLI_SYNC_COMMON_H

#include <signal.h>
#include <stdbool.h>

#include "cli/cli.h"
#include "objstore/store.h"
#include "sync/engine.h"
#include "sync/filter.h"

/* Option ids of the shared options (above any command's own). */
enum {
	GM_SYNC_OPT_EXCLUDE = 100,
	GM_SYNC_OPT_INCLUDE,
	GM_SYNC_OPT_EXCLUDE_FROM,
	GM_SYNC_OPT_JOBS,
	GM_SYNC_OPT_STREAMS,
	GM_SYNC_OPT_COMPRESS,
	GM_SYNC_OPT_RSH,
	GM_SYNC_OPT_REMOTE_BIN,
	GM_SYNC_OPT_ENDPOINT,
	GM_SYNC_OPT_REGION,
	GM_SYNC_OPT_PROFILE,
	GM_SYNC_OPT_ADDRESSING,
	GM_SYNC_OPT_INSECURE,
};

/* The shared entries, for a command's option table. */
#define GM_SYNC_COMMON_OPTS                                                                    \
	{GM_SYNC_OPT_EXCLUDE,                                                                  \
	 "exclude",                                                                            \
	 0,                                                                                    \
	 GM_ARG_REQUIRED,                                                                      \
	 "PATTERN",                                                                            \
	 "leave out paths matching PATTERN (rsync rules; repeatable)",                         \
	 NULL},                                                                                \
	        {GM_SYNC_OPT_INCLUDE,                                                          \
	         "include",                                                                    \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "PATTERN",                                                                    \
	         "keep paths matching PATTERN even if a later --exclude matches",              \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_EXCLUDE_FROM,                                                     \
	         "exclude-from",                                                               \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "FILE",                                                                       \
	         "read exclude patterns from FILE ('+ ' lines include)",                       \
	         "file"},                                                                      \
	        {GM_SYNC_OPT_JOBS,                                                             \
	         "jobs",                                                                       \
	         'j',                                                                          \
	         GM_ARG_REQUIRED,                                                              \
	         "N",                                                                          \
	         "worker threads (default: CPUs, at least 2; more over SSH)",                  \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_STREAMS,                                                          \
	         "streams",                                                                    \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "N",                                                                          \
	         "parallel SSH connections to a remote endpoint",                              \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_COMPRESS,                                                         \
	         "compress",                                                                   \
	         'z',                                                                          \
	         GM_ARG_NONE,                                                                  \
	         NULL,                                                                         \
	         "compress data on the SSH wire (zstd)",                                       \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_RSH,                                                              \
	         "rsh",                                                                        \
	         'e',                                                                          \
	         GM_ARG_REQUIRED,                                                              \
	         "CMD",                                                                        \
	         "the ssh command and its options (default: ssh)",                             \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_REMOTE_BIN,                                                       \
	         "remote-bin",                                                                 \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "PATH",                                                                       \
	         "gpumigrate's path on the remote host (default: gpumigrate)",                 \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_ENDPOINT,                                                         \
	         "endpoint",                                                                   \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "URL",                                                                        \
	         "the S3 service of s3:// names (default: $AWS_ENDPOINT_URL_S3, AWS)",         \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_REGION,                                                           \
	         "region",                                                                     \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "NAME",                                                                       \
	         "the S3 region to sign for (default: $AWS_REGION, the profile's)",            \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_PROFILE,                                                          \
	         "profile",                                                                    \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "NAME",                                                                       \
	         "the AWS profile of ~/.aws/config and credentials (default: $AWS_PROFILE)",   \
	         NULL},                                                                        \
	        {GM_SYNC_OPT_ADDRESSING,                                                       \
	         "addressing",                                                                 \
	         0,                                                                            \
	         GM_ARG_REQUIRED,                                                              \
	         "STYLE",                                                                      \
	         "S3 bucket addressing: path or virtual (default: path with --endpoint)",      \
	         NULL},                                                                        \
	{                                                                                      \
		GM_SYNC_OPT_INSECURE, "insecure", 0, GM_ARG_NONE, NULL,                        \
		        "do not verify the TLS certificates of s3:// and gs:// services", NULL \
	}

struct gm_sync_common {
	unsigned jobs, streams;
	bool compress;
	const char *rsh, *remote_bin;
	struct gm_os_opts os; /* s3://, gs:// */
};

void gm_sync_common_init(struct gm_sync_common *c);
void gm_sync_common_release(struct gm_sync_common *c);
/* Handles a shared option. Returns 0, or -1 after a usage error (*code set). */
int gm_sync_common_option(struct gm_cli *cli, struct gm_sync_common *c, struct gm_sync_filter *f,
                          int id, const char *arg, int *code);
/* Copies the shared settings into the engine's options (the filter when it has rules). */
void gm_sync_common_apply(const struct gm_sync_common *c, const struct gm_sync_filter *f,
                          struct gm_sync_opts *o);

/* A path for a line of text: printable bytes as they are, others (newline, invalid UTF-8
 * bytes, backslash) as \#ooo (octal), as rsync prints them. */
/* Raised by SIGINT/SIGTERM once gm_sync_cli_catch_signals ran: the engine's stop flag. */
extern volatile sig_atomic_t gm_sync_cli_stop;
/* Routes SIGINT and SIGTERM to gm_sync_cli_stop and ignores SIGPIPE (a lost ssh). */
void gm_sync_cli_catch_signals(void);
/* Erases the progress line on stderr when *shown, and clears *shown. */
void gm_sync_cli_clear_line(bool *shown);

void gm_sync_cli_quote(struct gm_buf *out, const char *path, size_t len);
/* "1.5 GiB", "812 KiB", "17 B". */
void gm_sync_cli_bytes(struct gm_buf *out, uint64_t n);
/* The progress line: bytes done/total, files done/total, rate, ETA, "scanning". */
void gm_sync_cli_progress_line(struct gm_buf *out, const struct gm_sync_stats *st, double rate,
                               bool final);
/* A one-line summary of a finished run. */
void gm_sync_cli_summary(struct gm_buf *out, const struct gm_sync_stats *st);

#endif
