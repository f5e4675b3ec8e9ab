/* Option parsing, help, errors and completion for every command, driven by the option
 * tables, so what a command accepts, what --help says and what bash completes never drift. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef GM_VERSION
#define GM_VERSION "0.0.0"
#endif

const struct gm_opt gm_global_opts[] = {
        {GM_OPT_JSON, "json", 0, GM_ARG_NONE, NULL, "machine-readable JSON on stdout", NULL},
        {GM_OPT_QUIET, "quiet", 'q', GM_ARG_NONE, NULL, "only errors on stderr", NULL},
        {GM_OPT_VERBOSE, "verbose", 'v', GM_ARG_NONE, NULL,
         "more detail on stderr (repeat for debug)", NULL},
        {GM_OPT_COLOR, "color", 0, GM_ARG_REQUIRED, "WHEN", "colour: auto, always or never",
         "auto always never"},
        {GM_OPT_VERSION, "version", 0, GM_ARG_NONE, NULL, "print the version and exit", NULL},
        {GM_OPT_HELP, "help", 'h', GM_ARG_NONE, NULL, "show this help and exit", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static size_t count_opts(const struct gm_opt *opts)
{
	size_t n = 0;
	while (opts && opts[n].long_name)
		n++;
	return n;
}

/* The option entry with getopt value v (index into the merged list). */
static const struct gm_opt *merged_at(const struct gm_cmd *cmd, size_t i)
{
	size_t n_cmd = count_opts(cmd ? cmd->opts : NULL);
	if (cmd && i < n_cmd)
		return &cmd->opts[i];
	return &gm_global_opts[i - n_cmd];
}

void gm_cli_begin(struct gm_cli *cli, const struct gm_cmd *cmd, int argc, char **argv)
{
	cli->cmd = cmd;
	cli->argc = argc;
	cli->argv = argv;
	cli->optarg = NULL;
	optind = 0; /* full re-initialisation of getopt (GNU) */
}

static const char *cmd_name(const struct gm_cli *cli)
{
	return cli->cmd ? cli->cmd->name : NULL;
}

int gm_cli_usage_error(const struct gm_cli *cli, const char *fmt, ...)
{
	struct gm_buf msg = GM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	gm_error("%s", gm_buf_cstr(&msg));
	if (cmd_name(cli))
		gm_hint("run 'gpumigrate %s --help' for its options", cmd_name(cli));
	else
		gm_hint("run 'gpumigrate --help' for the list of commands");
	gm_buf_release(&msg);
	return GM_EXIT_USAGE;
}

static int apply_global(struct gm_cli *cli, const struct gm_opt *o, int *exit_code)
{
	struct gm_buf out = GM_BUF_INIT;
	switch (o->id) {
	case GM_OPT_JSON: cli->json = true; return 0;
	case GM_OPT_QUIET:
		cli->quiet = true;
		gm_log_set_level(GM_LOG_ERROR);
		return 0;
	case GM_OPT_VERBOSE:
		cli->verbose++;
		gm_log_set_level(cli->verbose > 1 ? GM_LOG_DEBUG : GM_LOG_INFO);
		return 0;
	case GM_OPT_COLOR:
		if (!gm_cli_parse_color(cli->optarg, &cli->color_mode)) {
			*exit_code = gm_cli_usage_error(
			        cli, "invalid --color value '%s' (use auto, always or never)",
			        cli->optarg);
			return -2;
		}
		cli->color_stdout = gm_cli_want_color(cli->color_mode, STDOUT_FILENO);
		gm_log_set_color(gm_cli_want_color(cli->color_mode, STDERR_FILENO));
		return 0;
	case GM_OPT_VERSION:
		gm_buf_addf(&out, "gpumigrate %s\n", GM_VERSION);
		*exit_code = gm_cli_emit(&out);
		gm_buf_release(&out);
		return -2;
	case GM_OPT_HELP:
		if (cli->cmd)
			gm_cli_help_command(cli->cmd, &out);
		else
			gm_cli_help_global(&out);
		*exit_code = gm_cli_emit(&out);
		gm_buf_release(&out);
		return -2;
	}
	return 1;
}

int gm_cli_next(struct gm_cli *cli, int *exit_code)
{
	size_t n_cmd = count_opts(cli->cmd ? cli->cmd->opts : NULL);
	size_t n = n_cmd + count_opts(gm_global_opts);
	struct option *longopts = gm_xcalloc(n + 1, sizeof(*longopts));
	struct gm_buf shorts = GM_BUF_INIT;
	/* Before the command, stop at its name; a command's own options may come anywhere among
	 * its operands (up to "--"). The ':' reports missing arguments. */
	gm_buf_adds(&shorts, cli->cmd ? ":" : "+:");
	for (size_t i = 0; i < n; i++) {
		const struct gm_opt *o = merged_at(cli->cmd, i);
		longopts[i].name = o->long_name;
		longopts[i].has_arg = o->arg == GM_ARG_NONE       ? no_argument
		                      : o->arg == GM_ARG_REQUIRED ? required_argument
		                                                  : optional_argument;
		longopts[i].val = 1000 + (int)i;
		if (o->short_name) {
			gm_buf_addch(&shorts, o->short_name);
			if (o->arg == GM_ARG_REQUIRED)
				gm_buf_addch(&shorts, ':');
			else if (o->arg == GM_ARG_OPTIONAL)
				gm_buf_adds(&shorts, "::");
		}
	}

	int result = -1;
	for (;;) {
		opterr = 0;
		int c = getopt_long(cli->argc, cli->argv, gm_buf_cstr(&shorts), longopts, NULL);
		cli->optarg = optarg;
		if (c == -1)
			break;
		const struct gm_opt *o = NULL;
		if (c >= 1000 && (size_t)(c - 1000) < n) {
			o = merged_at(cli->cmd, (size_t)(c - 1000));
		} else if (c != '?' && c != ':') {
			for (size_t i = 0; i < n && !o; i++)
				if (merged_at(cli->cmd, i)->short_name == c)
					o = merged_at(cli->cmd, i);
		}
		if (!o) {
			const char *bad = cli->argv[optind - 1 > 0 ? optind - 1 : 0];
			if (c == ':')
				*exit_code =
				        gm_cli_usage_error(cli, "option '%s' needs a value", bad);
			else if (optopt && optopt < 1000)
				*exit_code =
				        gm_cli_usage_error(cli, "unknown option '-%c'", optopt);
			else
				*exit_code = gm_cli_usage_error(cli, "unknown option '%s'", bad);
			result = -2;
			break;
		}
		if (o->id < 0) {
			int g = apply_global(cli, o, exit_code);
			if (g == -2) {
				result = -2;
				break;
			}
			continue;
		}
		result = o->id;
		break;
	}
	free(longopts);
	gm_buf_release(&shorts);
	return result;
}

char **gm_cli_args(struct gm_cli *cli, int *count)
{
	*count = cli->argc - optind;
	return cli->argv + optind;
}

int gm_cli_fail(const struct gm_cli *cli, const struct gm_err *err)
{
	(void)cli;
	gm_error("%s", gm_err_msg(err));
	switch (err->rc) {
	case GM_OK: return GM_EXIT_OK;
	case GM_ERR_USAGE:
	case GM_ERR_PARSE:
	case GM_ERR_LIMIT: return GM_EXIT_USAGE;
	default: return GM_EXIT_ERROR;
	}
}

int gm_cli_emit(const struct gm_buf *buf)
{
	if (buf->len && fwrite(buf->data, 1, buf->len, stdout) != buf->len)
		goto fail;
	if (fflush(stdout) != 0)
		goto fail;
	return GM_EXIT_OK;
fail:
	gm_error("cannot write to standard output: %s", strerror(errno));
	return GM_EXIT_ERROR;
}

static void help_opts(const struct gm_opt *opts, struct gm_buf *out)
{
	for (size_t i = 0; opts && opts[i].long_name; i++) {
		const struct gm_opt *o = &opts[i];
		size_t start = out->len;
		if (o->short_name)
			gm_buf_addf(out, "  -%c, --%s", o->short_name, o->long_name);
		else
			gm_buf_addf(out, "      --%s", o->long_name);
		if (o->arg == GM_ARG_REQUIRED)
			gm_buf_addf(out, " %s", o->arg_name ? o->arg_name : "VALUE");
		else if (o->arg == GM_ARG_OPTIONAL)
			gm_buf_addf(out, "[=%s]", o->arg_name ? o->arg_name : "VALUE");
		size_t w = out->len - start;
		if (w < 30)
			gm_buf_addpad(out, ' ', 30 - w);
		else
			gm_buf_adds(out, "\n                              ");
		gm_buf_addf(out, "%s\n", o->help);
	}
}

void gm_cli_help_command(const struct gm_cmd *cmd, struct gm_buf *out)
{
	gm_buf_addf(out, "usage: gpumigrate %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (count_opts(cmd->opts)) {
		gm_buf_adds(out, "\noptions:\n");
		help_opts(cmd->opts, out);
	}
	gm_buf_adds(out, "\nglobal options:\n");
	help_opts(gm_global_opts, out);
	gm_buf_addf(out, "\nsee gpumigrate-%s(1) for details.\n", cmd->name);
}

void gm_cli_help_global(struct gm_buf *out)
{
	gm_buf_adds(out, "usage: gpumigrate [global options] <command> [options] [args]\n\n"
	                 "Moves GPU workloads from cloud GPU servers to your own.\n\ncommands:\n");
	for (const struct gm_cmd *c = gm_commands; c->name; c++) {
		if (c->hidden)
			continue;
		gm_buf_addf(out, "  %-12s  %s\n", c->name, c->summary);
	}
	gm_buf_adds(out, "\nglobal options:\n");
	help_opts(gm_global_opts, out);
	gm_buf_adds(out, "\nexit status: 0 ok, 1 findings, 2 usage, 3 partial, 4 error, 5 no GPU.\n"
	                 "run 'gpumigrate <command> --help' for a command's options; "
	                 "see gpumigrate(1).\n");
}

void gm_cli_help_subcommands(const struct gm_cli_subcommands *set, struct gm_buf *out)
{
	gm_buf_addf(out, "usage: gpumigrate %s SUBCOMMAND [options] [args]\n\n%s\n\nsubcommands:\n",
	            set->command, set->about);
	for (const struct gm_cli_subcommand *s = set->subs; s->name; s++)
		gm_buf_addf(out, "  %-8s  %s\n", s->name, s->summary);
	for (const struct gm_cli_subcommand *s = set->subs; s->name; s++) {
		gm_buf_addf(out, "\noptions of '%s %s' (usage: gpumigrate %s %s):\n", set->command,
		            s->name, set->command, s->usage);
		help_opts(s->opts, out);
	}
	gm_buf_adds(out, "\nglobal options:\n");
	help_opts(gm_global_opts, out);
	gm_buf_addf(out, "\nsee gpumigrate-%s(1) for details.\n", set->command);
}

/* "gpu, run, http, net or compare" */
static void subcommand_list(const struct gm_cli_subcommands *set, struct gm_buf *out)
{
	for (const struct gm_cli_subcommand *s = set->subs; s->name; s++) {
		if (s != set->subs)
			gm_buf_adds(out, s[1].name ? ", " : " or ");
		gm_buf_adds(out, s->name);
	}
}

int gm_cli_run_subcommand(struct gm_cli *cli, const struct gm_cli_subcommands *set, int argc,
                          char **argv)
{
	const struct gm_cmd *outer = cli->cmd;
	struct gm_buf text = GM_BUF_INIT;
	int code = GM_EXIT_OK;
	/* global options may come before the subcommand */
	int i = 1;
	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
		size_t alen = strlen(argv[i]);
		/* "--he" is "--help" too, as getopt_long would take it */
		if ((alen >= 3 && strncmp(argv[i], "--help", alen) == 0) ||
		    strcmp(argv[i], "-h") == 0) {
			gm_cli_help_subcommands(set, &text);
			code = gm_cli_emit(&text);
			goto out;
		}
		struct gm_cmd cmd = {set->command, "", "", NULL, NULL, false};
		char *one[3] = {argv[0], argv[i], NULL};
		int n = 2;
		/* an option with a value (--color WHEN) takes the next word */
		if (strcmp(argv[i], "--color") == 0 && i + 1 < argc)
			one[2] = argv[i + 1], n = 3;
		gm_cli_begin(cli, &cmd, n, one);
		int id = gm_cli_next(cli, &code);
		if (id == -2)
			goto out;
		if (id != -1) {
			code = gm_cli_usage_error(cli, "'%s' belongs after the subcommand",
			                          argv[i]);
			goto out;
		}
		i += n - 1;
	}
	subcommand_list(set, &text);
	if (i >= argc) {
		gm_error("%s needs a subcommand: %s", set->command, gm_buf_cstr(&text));
		gm_hint("run 'gpumigrate %s --help' for each one's options", set->command);
		code = GM_EXIT_USAGE;
		goto out;
	}
	for (const struct gm_cli_subcommand *s = set->subs; s->name; s++) {
		if (strcmp(argv[i], s->name) != 0)
			continue;
		struct gm_cmd sub_cmd = {set->command, s->summary, s->usage,
		                         s->opts,      s->run,     false};
		gm_cli_begin(cli, &sub_cmd, argc - i, argv + i);
		code = s->run(cli, argc - i, argv + i);
		goto out;
	}
	gm_error("unknown %s subcommand '%s' (%s)", set->command, argv[i], gm_buf_cstr(&text));
	gm_hint("run 'gpumigrate %s --help' for the list", set->command);
	code = GM_EXIT_USAGE;
out:
	cli->cmd = outer; /* not the gm_cmd made up here, which ends with this call */
	gm_buf_release(&text);
	return code;
}

static void completion_words(const struct gm_opt *opts, struct gm_buf *out)
{
	for (size_t i = 0; opts && opts[i].long_name; i++) {
		gm_buf_addf(out, " --%s", opts[i].long_name);
		if (opts[i].short_name)
			gm_buf_addf(out, " -%c", opts[i].short_name);
	}
}

static void completion_values(const struct gm_opt *opts, struct gm_buf *out)
{
	for (size_t i = 0; opts && opts[i].long_name; i++) {
		const struct gm_opt *o = &opts[i];
		if (o->arg == GM_ARG_NONE)
			continue;
		gm_buf_addf(out, "        --%s", o->long_name);
		if (o->short_name)
			gm_buf_addf(out, "|-%c", o->short_name);
		if (!o->complete || strcmp(o->complete, "file") == 0)
			gm_buf_adds(out, ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n");
		else if (strcmp(o->complete, "dir") == 0)
			gm_buf_adds(out, ") COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n");
		else
			gm_buf_addf(out,
			            ") COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n",
			            o->complete);
	}
}

void gm_cli_completion_bash(struct gm_buf *out)
{
	gm_buf_adds(out,
	            "# bash completion for gpumigrate, generated from its option tables\n"
	            "_gpumigrate() {\n"
	            "    local cur prev cmd i\n"
	            "    cur=${COMP_WORDS[COMP_CWORD]}\n"
	            "    prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	            "    cmd=\n"
	            "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
	            "        case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; "
	            "esac\n"
	            "    done\n"
	            "    case $prev in\n");
	completion_values(gm_global_opts, out);
	gm_buf_adds(out,
	            "    esac\n    case $cmd in\n        '')\n            COMPREPLY=($(compgen "
	            "-W \"");
	for (const struct gm_cmd *c = gm_commands; c->name; c++)
		if (!c->hidden)
			gm_buf_addf(out, "%s ", c->name);
	completion_words(gm_global_opts, out);
	gm_buf_adds(out, "\" -- \"$cur\")); return ;;\n");
	for (const struct gm_cmd *c = gm_commands; c->name; c++) {
		gm_buf_addf(out, "        %s)\n            case $prev in\n", c->name);
		completion_values(c->opts, out);
		gm_buf_adds(out, "            esac\n            COMPREPLY=($(compgen -W \"");
		completion_words(c->opts, out);
		completion_words(gm_global_opts, out);
		gm_buf_adds(out, "\" -- \"$cur\"))\n            [[ $cur == -* ]] || "
		                 "COMPREPLY+=($(compgen -f -- \"$cur\"))\n            ;;\n");
	}
	gm_buf_adds(out, "    esac\n}\ncomplete -F _gpumigrate gpumigrate\n");
}

bool gm_cli_parse_color(const char *s, enum gm_color_mode *out)
{
	if (!s)
		return false;
	if (strcmp(s, "auto") == 0)
		*out = GM_COLOR_MODE_AUTO;
	else if (strcmp(s, "always") == 0)
		*out = GM_COLOR_MODE_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*out = GM_COLOR_MODE_NEVER;
	else
		return false;
	return true;
}

bool gm_cli_want_color(enum gm_color_mode mode, int fd)
{
	if (mode == GM_COLOR_MODE_ALWAYS)
		return true;
	if (mode == GM_COLOR_MODE_NEVER)
		return false;
	const char *no = getenv("NO_COLOR");
	if (no && *no)
		return false;
	const char *term = getenv("TERM");
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fd) == 1;
}

void gm_cli_catch_stop(void (*on_stop)(int sig), bool once)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = once ? SA_RESETHAND : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
