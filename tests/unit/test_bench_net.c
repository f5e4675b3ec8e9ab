/* Unit tests for bench net's arithmetic and parsing: the TCP payload ceiling of a link, the
 * threshold verdicts, address parsing, reading a link's speed and MTU from a sysfs copy, and
 * bench gpu's host-side number conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/gpu.h"
#include "bench/net.h"
#include "util/banned.h"

static void test_ceiling_arithmetic(void **state)
{
	(void)state;
	/* 10 GbE, MTU 1500, IPv4 with timestamps: 10000 × 1448 / 1538 Mbit/s. */
	assert_float_equal(gm_bench_net_ceiling_gbps(10000, 1500, false, true), 10.0 * 1448 / 1538,
	                   1e-12);
	assert_float_equal(gm_bench_net_ceiling_gbps(10000, 1500, false, true), 9.4148, 1e-4);
	/* Without timestamps: 1460 payload bytes. */
	assert_float_equal(gm_bench_net_ceiling_gbps(10000, 1500, false, false), 10.0 * 1460 / 1538,
	                   1e-12);
	/* IPv6 adds 20 header bytes. */
	assert_float_equal(gm_bench_net_ceiling_gbps(10000, 1500, true, true), 10.0 * 1428 / 1538,
	                   1e-12);
	/* Jumbo frames on 100 GbE. */
	assert_float_equal(gm_bench_net_ceiling_gbps(100000, 9000, false, true),
	                   100.0 * 8948 / 9038, 1e-12);
	/* 25 GbE */
	assert_float_equal(gm_bench_net_ceiling_gbps(25000, 1500, false, true), 25.0 * 1448 / 1538,
	                   1e-12);
	/* Nonsense gives 0. */
	assert_float_equal(gm_bench_net_ceiling_gbps(10000, 40, false, false), 0, 0);
	assert_float_equal(gm_bench_net_ceiling_gbps(0, 1500, false, false), 0, 0);
	assert_float_equal(gm_bench_net_ceiling_gbps(-1, 1500, false, false), 0, 0);
}

static void test_judge(void **state)
{
	(void)state;
	double ceil10 = gm_bench_net_ceiling_gbps(10000, 1500, false, true);
	assert_int_equal(gm_bench_net_judge_gbps(12, 10, true, ceil10), GM_BENCH_NET_PASS);
	assert_int_equal(gm_bench_net_judge_gbps(10, 10, false, 0), GM_BENCH_NET_PASS);
	/* 9.41 on a 10 GbE link asked for 10: at the ceiling, a pass. */
	assert_int_equal(gm_bench_net_judge_gbps(9.41, 10, true, ceil10), GM_BENCH_NET_AT_CEILING);
	/* Just at 95 % of the ceiling, and just below it. */
	assert_int_equal(gm_bench_net_judge_gbps(0.95 * ceil10, 10, true, ceil10),
	                 GM_BENCH_NET_AT_CEILING);
	assert_int_equal(gm_bench_net_judge_gbps(0.94 * ceil10, 10, true, ceil10),
	                 GM_BENCH_NET_FAIL);
	/* Unknown ceiling: a plain fail. */
	assert_int_equal(gm_bench_net_judge_gbps(9.41, 10, false, 0), GM_BENCH_NET_FAIL);
	/* The threshold is below the ceiling: missing it is the hosts' fault. */
	assert_int_equal(gm_bench_net_judge_gbps(8.9, 9, true, ceil10), GM_BENCH_NET_FAIL);
	assert_string_equal(gm_bench_net_verdict_name(GM_BENCH_NET_AT_CEILING),
	                    "pass (link ceiling)");
	assert_string_equal(gm_bench_net_verdict_name(GM_BENCH_NET_FAIL), "FAIL");
}

static void test_parse_addr(void **state)
{
	(void)state;
	struct gm_buf host = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	uint16_t port;
	assert_int_equal(gm_bench_net_parse_addr("node2", 5301, &host, &port, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&host), "node2");
	assert_int_equal(port, 5301);
	assert_int_equal(gm_bench_net_parse_addr("10.0.0.2:7000", 5301, &host, &port, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&host), "10.0.0.2");
	assert_int_equal(port, 7000);
	assert_int_equal(gm_bench_net_parse_addr("[fe80::1]:9", 5301, &host, &port, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&host), "fe80::1");
	assert_int_equal(port, 9);
	assert_int_equal(gm_bench_net_parse_addr("::1", 5301, &host, &port, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&host), "::1");
	assert_int_equal(port, 5301);
	assert_int_equal(gm_bench_net_parse_addr(":0", 5301, &host, &port, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&host), "");
	assert_int_equal(port, 0);
	assert_int_equal(gm_bench_net_parse_addr("h:70000", 5301, &host, &port, &err),
	                 GM_ERR_USAGE);
	assert_int_equal(gm_bench_net_parse_addr("h:x", 5301, &host, &port, &err), GM_ERR_USAGE);
	assert_int_equal(gm_bench_net_parse_addr("[::1", 5301, &host, &port, &err), GM_ERR_USAGE);
	assert_int_equal(gm_bench_net_parse_addr("[::1]x", 5301, &host, &port, &err), GM_ERR_USAGE);
	gm_buf_release(&host);
	gm_err_release(&err);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_link_read(void **state)
{
	(void)state;
	char dir[] = "/tmp/gm-netlink-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct gm_buf p = GM_BUF_INIT;
	const char *const subdirs[] = {"/sys",
	                               "/sys/class",
	                               "/sys/class/net",
	                               "/sys/class/net/eth0",
	                               "/sys/class/net/veth1",
	                               "/proc",
	                               "/proc/sys",
	                               "/proc/sys/net",
	                               "/proc/sys/net/ipv4"};
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "%s%s", dir, subdirs[i]);
		assert_int_equal(mkdir(gm_buf_cstr(&p), 0700), 0);
	}
	struct {
		const char *rel, *text;
	} files[] = {
	        {"/sys/class/net/eth0/speed", "10000\n"},
	        {"/sys/class/net/eth0/mtu", "1500\n"},
	        {"/sys/class/net/veth1/speed", "-1\n"},
	        {"/sys/class/net/veth1/mtu", "9000\n"},
	        {"/proc/sys/net/ipv4/tcp_timestamps", "1\n"},
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "%s%s", dir, files[i].rel);
		write_file(gm_buf_cstr(&p), files[i].text);
	}
	struct gm_root root = {dir};
	struct gm_bench_net_link l;
	memset(&l, 0, sizeof(l));
	snprintf(l.ifname, sizeof(l.ifname), "eth0");
	gm_bench_net_link_read(&root, &l);
	assert_true(l.speed_known);
	assert_float_equal(l.speed_mbps, 10000, 0);
	assert_true(l.mtu_known);
	assert_int_equal(l.mtu, 1500);
	assert_true(l.timestamps);
	assert_true(l.ceiling_known);
	assert_float_equal(l.ceiling_gbps, 10.0 * 1448 / 1538, 1e-12);

	/* A virtual interface reports -1: speed and ceiling stay unknown, the MTU is known. */
	memset(&l, 0, sizeof(l));
	snprintf(l.ifname, sizeof(l.ifname), "veth1");
	gm_bench_net_link_read(&root, &l);
	assert_false(l.speed_known);
	assert_true(l.mtu_known);
	assert_int_equal(l.mtu, 9000);
	assert_false(l.ceiling_known);

	/* No such interface: nothing known. Timestamps off when the sysctl says 0. */
	gm_buf_reset(&p);
	gm_buf_addf(&p, "%s/proc/sys/net/ipv4/tcp_timestamps", dir);
	write_file(gm_buf_cstr(&p), "0\n");
	memset(&l, 0, sizeof(l));
	snprintf(l.ifname, sizeof(l.ifname), "eth9");
	gm_bench_net_link_read(&root, &l);
	assert_false(l.speed_known);
	assert_false(l.mtu_known);
	assert_false(l.ceiling_known);
	assert_false(l.timestamps);

	gm_buf_reset(&p);
	gm_buf_addf(&p, "rm -rf '%s'", dir);
	assert_int_equal(system(gm_buf_cstr(&p)), 0);
	gm_buf_release(&p);
}

static void test_half_bf16(void **state)
{
	(void)state;
	assert_int_equal(gm_bench_float_to_half(1.0f), 0x3c00);
	assert_int_equal(gm_bench_float_to_half(-2.0f), 0xc000);
	assert_int_equal(gm_bench_float_to_half(0.125f), 0x3000);
	assert_int_equal(gm_bench_float_to_half(65504.0f), 0x7bff);
	assert_int_equal(gm_bench_float_to_half(1e6f), 0x7c00);
	assert_int_equal(gm_bench_float_to_half(0.0f), 0x0000);
	assert_int_equal(gm_bench_float_to_half(5.960464477539063e-08f), 0x0001); /* 2^-24 */
	/* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0). */
	assert_int_equal(gm_bench_float_to_half(1.0f + 1.0f / 2048), 0x3c00);
	assert_int_equal(gm_bench_float_to_half(1.0f + 3.0f / 2048), 0x3c02);
	assert_int_equal(gm_bench_float_to_bf16(1.0f), 0x3f80);
	assert_int_equal(gm_bench_float_to_bf16(-0.125f), 0xbe00);
	assert_int_equal(gm_bench_float_to_bf16(1.0f + 1.0f / 256), 0x3f80); /* tie to even */
	assert_int_equal(gm_bench_float_to_bf16(1.0f + 3.0f / 256), 0x3f82);
	assert_int_equal(gm_bench_float_to_bf16(NAN) & 0x7f80, 0x7f80);
}

static void test_gpu_helpers(void **state)
{
	(void)state;
	double x[] = {5, 1, 4, 2, 3};
	assert_float_equal(gm_bench_gpu_median(x, 5), 3, 0);
	assert_float_equal(gm_bench_gpu_median(x, 4), 3, 0); /* 1 2 4 5 */
	assert_true(isnan(gm_bench_gpu_median(x, 0)));
	assert_string_equal(gm_bench_gemm_prec_name(GM_GEMM_TF32), "tf32");
	assert_true(gm_bench_gemm_tolerance(GM_GEMM_FP32) < gm_bench_gemm_tolerance(GM_GEMM_BF16));
	/* The PTX declares the version and target every driver since CUDA 11 JITs. */
	assert_non_null(strstr(gm_bench_gpu_ptx, ".version 7.0\n.target sm_52\n"));
	assert_non_null(strstr(gm_bench_gpu_ptx, ".visible .entry gm_spin("));
}

static void test_gpu_no_driver(void **state)
{
	(void)state;
	setenv("GPUMIGRATE_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1);
	struct gm_bench_gpu_opts o;
	struct gm_bench_gpu_result r;
	struct gm_err err = GM_ERR_INIT;
	gm_bench_gpu_opts_default(&o);
	gm_bench_gpu_result_init(&r);
	assert_int_equal(gm_bench_gpu_run(&o, &r, &err), GM_ERR_NO_DRIVER);
	assert_non_null(strstr(gm_err_msg(&err), "/nonexistent/libcuda.so.1"));
	assert_int_equal(r.n_figs, 0);
	gm_bench_gpu_result_release(&r);
	gm_err_release(&err);
	unsetenv("GPUMIGRATE_CUDA_LIBRARY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ceiling_arithmetic), cmocka_unit_test(test_judge),
	        cmocka_unit_test(test_parse_addr),         cmocka_unit_test(test_link_read),
	        cmocka_unit_test(test_half_bf16),          cmocka_unit_test(test_gpu_helpers),
	        cmocka_unit_test(test_gpu_no_driver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
