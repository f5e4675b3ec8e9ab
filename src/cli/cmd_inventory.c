/* placeholder */
#include "cli/commands.h"

const struct gm_opt gm_cmd_inventory_opts[] = {
        {'r', "sysroot", 0, GM_ARG_REQUIRED, "DIR", "read sysfs/procfs/etc below DIR", "dir"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

int gm_cmd_inventory(struct gm_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return gm_cli_usage_error(cli, "inventory is not built yet");
}
