/* libFuzzer harness: the web configuration file comes from whoever deploys the exporter and
 * may be edited by hand. Parse it and, when it parses, check a password against its users. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "monitor/webconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_web_config wc;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	if (gm_web_config_parse(&wc, "fuzz.yml", "/cfg", (const char *)data, size, &err) == GM_OK &&
	    wc.n_users > 0 && strncmp(wc.users[0].hash + 3, "$04$", 4) == 0)
		/* cost 4 only: higher costs would make the fuzzer crawl */
		gm_web_config_check_password(&wc, wc.users[0].name, "secret");
	gm_web_config_release(&wc);
	gm_err_release(&err);
	return 0;
}
