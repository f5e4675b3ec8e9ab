/* The command-line layer's shared pieces: the option table every command declares (which
 * drives getopt_long, --help, the man page check and the bash completion), the global
 * options, and the documented exit codes. Only src/cli prints results or exits. */
#ifndef GM_CLI_H
#define GM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/err.h"

/* Exit codes (gpumigrate(1), EXIT STATUS). */
enum gm_exit {
	GM_EXIT_OK = 0,       /* success; no findings */
	GM_EXIT_FINDINGS = 1, /* the command ran and found problems (FAIL, differences) */
	GM_EXIT_USAGE = 2,    /* bad command line or bad input file */
	GM_EXIT_PARTIAL = 3,  /* part of the work was done; the rest failed */
	GM_EXIT_ERROR = 4,    /* the command could not do its work (I/O, driver, network) */
	GM_EXIT_SKIPPED = 5,  /* nothing to measure here (no GPU or no driver) */
};

enum gm_opt_arg { GM_ARG_NONE = 0, GM_ARG_REQUIRED, GM_ARG_OPTIONAL };

/* One option of a command. id is what gm_cli_next returns for it; the option tables end
 * with an entry whose long_name is NULL. */
struct gm_opt {
	int id;
	const char *long_name;
	char short_name; /* 0 for none */
	enum gm_opt_arg arg;
	const char *arg_name; /* "FILE", "DIR" … (help and completion) */
	const char *help;
	const char *complete; /* completion kind: "file", "dir", or "word1 word2 …", or NULL */
};

struct gm_cli;

struct gm_cmd {
	const char *name;
	const char *summary; /* one line for the command list */
	const char *usage;   /* after "gpumigrate NAME " */
	const struct gm_opt *opts;
	int (*run)(struct gm_cli *cli, int argc, char **argv);
	bool hidden;
};

enum gm_color_mode { GM_COLOR_MODE_AUTO = 0, GM_COLOR_MODE_ALWAYS, GM_COLOR_MODE_NEVER };

/* Global state of one invocation: the global options, resolved. */
struct gm_cli {
	const struct gm_cmd *cmd;
	bool json;
	bool quiet;
	int verbose;
	enum gm_color_mode color_mode;
	bool color_stdout; /* colour decided for stdout (--color, NO_COLOR, isatty) */
	/* parser state for gm_cli_next */
	int argc;
	char **argv;
	const char *optarg;
};

/* Global option ids (negative, so they never collide with a command's ids). */
enum {
	GM_OPT_HELP = -100,
	GM_OPT_JSON,
	GM_OPT_QUIET,
	GM_OPT_VERBOSE,
	GM_OPT_COLOR,
	GM_OPT_VERSION,
};

/* The global options, accepted before the command and after it. */
extern const struct gm_opt gm_global_opts[];

/* The command table (main.c). */
extern const struct gm_cmd gm_commands[];

/* Starts parsing a command's arguments (argv[0] is the command name). */
void gm_cli_begin(struct gm_cli *cli, const struct gm_cmd *cmd, int argc, char **argv);
/* Returns the next option's id, with its argument in cli->optarg; -1 at the end (then
 * gm_cli_args gives the operands); GM_OPT_HELP after printing help is handled inside: the
 * caller sees -2 meaning "stop, exit with *exit_code". Global options are applied here. */
int gm_cli_next(struct gm_cli *cli, int *exit_code);
/* Operands left after the options. */
char **gm_cli_args(struct gm_cli *cli, int *count);

/* Prints "gpumigrate: error: <msg>" and a hint line to stderr; returns GM_EXIT_USAGE. */
int gm_cli_usage_error(const struct gm_cli *cli, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Prints an error from the core and returns the exit code that fits its rc. */
int gm_cli_fail(const struct gm_cli *cli, const struct gm_err *err);
/* Writes all of buf to stdout; returns GM_EXIT_ERROR when stdout fails (full disk, EPIPE). */
int gm_cli_emit(const struct gm_buf *buf);

/* Per-command --help text. */
void gm_cli_help_command(const struct gm_cmd *cmd, struct gm_buf *out);
/* Global --help text. */
void gm_cli_help_global(struct gm_buf *out);
/* Bash completion script generated from the option tables. */
void gm_cli_completion_bash(struct gm_buf *out);

/* One subcommand of a command that has them (`bench gpu`, `k8s mirror`). */
struct gm_cli_subcommand {
	const char *name;
	const char *usage;   /* after "gpumigrate COMMAND " ("gpu [options]") */
	const char *summary; /* one line for the subcommand list */
	const struct gm_opt *opts;
	int (*run)(struct gm_cli *cli, int argc, char **argv);
};

/* A command made of subcommands: its name, the line under the usage in its --help, and
 * the subcommands (the table ends with an entry whose name is NULL). */
struct gm_cli_subcommands {
	const char *command; /* "bench" */
	const char *about;   /* "measure this environment and compare two measurements" */
	const struct gm_cli_subcommand *subs;
};

/* The whole run of such a command (argv[0] is its name): global options may come before
 * the subcommand (--help and -h there print gm_cli_help_subcommands; any other option is
 * an error that names the subcommand as its place), then the named subcommand runs with
 * argv[0] its name and cli started on a command called set->command whose option table is
 * the subcommand's, so it just loops over gm_cli_next and takes its operands from
 * gm_cli_args. A missing or unknown subcommand is a usage error that lists them. Returns
 * the exit code. */
int gm_cli_run_subcommand(struct gm_cli *cli, const struct gm_cli_subcommands *set, int argc,
                          char **argv);
/* --help text of a command made of subcommands: each one's summary, then each one's
 * usage and options, then the global options. */
void gm_cli_help_subcommands(const struct gm_cli_subcommands *set, struct gm_buf *out);

/* Parses a --color value. */
bool gm_cli_parse_color(const char *s, enum gm_color_mode *out);
/* Resolves whether fd gets colour under mode, honouring NO_COLOR and isatty. */
bool gm_cli_want_color(enum gm_color_mode mode, int fd);

/* Runs on_stop (a signal handler: it should only set a flag) on SIGINT and SIGTERM, and
 * ignores SIGPIPE. once: the first signal only, a second one ends the process as if no
 * handler were there (so a stuck stop can still be cut short). */
void gm_cli_catch_stop(void (*on_stop)(int sig), bool once);

#endif
