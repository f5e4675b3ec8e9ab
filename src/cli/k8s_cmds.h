/* The `k8s` subcommands' entry points and option tables, for the dispatcher in cmd_k8s.c
 * (each subcommand lives in its own cmd_k8s_<name>.c). */
#ifndef GM_K8S_CMDS_H
#define GM_K8S_CMDS_H

#include "cli/cli.h"

/* `gpumigrate k8s mirror`: copy images between registries (cmd_k8s_mirror.c). */
extern const struct gm_opt gm_cmd_k8s_mirror_opts[];
int gm_cmd_k8s_mirror(struct gm_cli *cli, int argc, char **argv);

#endif
