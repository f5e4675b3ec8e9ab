/* `gpumigrate completion bash`: the completion script, generated from the option tables
 * (the build installs its output as share/bash-completion/completions/gpumigrate). */
#include <string.h>

#include "cli/commands.h"
#include "util/banned.h"

const struct gm_opt gm_cmd_completion_opts[] = {
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

int gm_cmd_completion(struct gm_cli *cli, int argc, char **argv)
{
	int code = GM_EXIT_OK;
	if (gm_cli_next(cli, &code) == -2)
		return code;
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc != 1 || strcmp(args[0], "bash") != 0)
		return gm_cli_usage_error(cli, "completion needs the shell name: 'bash'");
	struct gm_buf out = GM_BUF_INIT;
	gm_cli_completion_bash(&out);
	code = gm_cli_emit(&out);
	gm_buf_release(&out);
	return code;
}
