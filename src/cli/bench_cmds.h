/* The `bench` subcommands' entry points and option tables, for the dispatcher in
 * cmd_bench.c (each subcommand lives in its own cmd_bench_<name>.c). */
#ifndef GM_BENCH_CMDS_H
#define GM_BENCH_CMDS_H

#include "cli/cli.h"

/* `gpumigrate bench gpu`: copy bandwidths and GEMM throughput through the CUDA driver and
 * cuBLAS (cmd_bench_gpu.c). */
extern const struct gm_opt gm_cmd_bench_gpu_opts[];
int gm_cmd_bench_gpu(struct gm_cli *cli, int argc, char **argv);

/* `gpumigrate bench net`: TCP round-trip latency and throughput between two nodes
 * (cmd_bench_net.c). */
extern const struct gm_opt gm_cmd_bench_net_opts[];
int gm_cmd_bench_net(struct gm_cli *cli, int argc, char **argv);

/* `gpumigrate bench run|http|compare` (cmd_bench_run.c, cmd_bench_http.c, cmd_bench.c). */
extern const struct gm_opt gm_cmd_bench_run_opts[];
int gm_cmd_bench_run(struct gm_cli *cli, int argc, char **argv);
extern const struct gm_opt gm_cmd_bench_http_opts[];
int gm_cmd_bench_http(struct gm_cli *cli, int argc, char **argv);
extern const struct gm_opt gm_cmd_bench_compare_opts[];
int gm_cmd_bench_compare(struct gm_cli *cli, int argc, char **argv);

/* The dispatcher (gm_cmd_bench in cmd_bench.c) calls a subcommand through
 * gm_cli_run_subcommand (cli.h): argv[0] is the subcommand's name ("gpu"), and cli has been
 * started with gm_cli_begin on a command whose option table is the subcommand's
 * gm_cmd_bench_<name>_opts, so the subcommand just loops over gm_cli_next and takes its
 * operands from gm_cli_args. */

struct gm_bench_result;

/* The shared end of every bench subcommand: writes the full result document to output
 * (atomically; "-" is standard output) when output is set, then prints the result as JSON
 * (--json) or the table. Returns an exit code (GM_EXIT_OK or the failure's). */
int gm_bench_cli_emit(struct gm_cli *cli, const struct gm_bench_result *r, const char *output,
                      const struct gm_buf *table);

/* The shared end of `bench gpu` and `bench net`, whose output is not a figures table:
 * records the inventory into doc (without NVML when skip_nvml; a failure is a warning),
 * then, with --json or an output file, puts the document with a newline into out (which
 * starts empty) and writes it to output (atomically). Returns GM_EXIT_OK, with out holding
 * the JSON to emit under --json and empty otherwise (for the caller's table), or the
 * failure's exit code. */
int gm_bench_cli_save(struct gm_cli *cli, struct gm_bench_result *doc, bool skip_nvml,
                      const char *output, struct gm_buf *out);

/* A table of the result's figures: name, unit, n, median, p90, p99, min, max. */
void gm_bench_cli_figures_table(const struct gm_bench_result *r, bool color, struct gm_buf *out);

/* A value in its unit for people: seconds as ns/µs/ms/s, B/s as kB/s … GB/s, others with
 * four significant digits and the unit. */
void gm_bench_cli_format(double v, const char *unit, struct gm_buf *out);

/* "10s", "500ms", "250us", "2m", "1h", or a plain number of seconds; false for anything
 * else (and for negative or non-finite values). */
bool gm_bench_cli_parse_duration(const char *s, double *seconds);

/* Collects the inventory into r unless skip; a failure is a warning, never fatal. */
void gm_bench_cli_inventory(struct gm_bench_result *r, bool skip);

#endif
