/* Every command's entry point and option table, for the command table in main.c. */
#ifndef GM_COMMANDS_H
#define GM_COMMANDS_H

#include "cli/cli.h"

#define GM_DECLARE_COMMAND(name)                           \
	extern const struct gm_opt gm_cmd_##name##_opts[]; \
	int gm_cmd_##name(struct gm_cli *cli, int argc, char **argv)

GM_DECLARE_COMMAND(inventory);
GM_DECLARE_COMMAND(topo);
GM_DECLARE_COMMAND(check);
GM_DECLARE_COMMAND(compare);
GM_DECLARE_COMMAND(tco);
GM_DECLARE_COMMAND(assess);
GM_DECLARE_COMMAND(exporter);
GM_DECLARE_COMMAND(monitor);
GM_DECLARE_COMMAND(catalog);
GM_DECLARE_COMMAND(plan);
GM_DECLARE_COMMAND(sync);
GM_DECLARE_COMMAND(verify);
GM_DECLARE_COMMAND(bench);
GM_DECLARE_COMMAND(k8s);
GM_DECLARE_COMMAND(completion);

#endif
