/* placeholder: replaced by the topology work */
#include "cli/commands.h"

const struct gm_opt gm_cmd_topo_opts[] = {
        {'x', "topology-xml", 'x', GM_ARG_REQUIRED, "FILE", "analyse a saved lstopo XML file",
         "file"},
        {'r', "sysroot", 0, GM_ARG_REQUIRED, "DIR", "read sysfs/procfs below DIR", "dir"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

int gm_cmd_topo(struct gm_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return gm_cli_usage_error(cli, "topo is not built yet");
}
