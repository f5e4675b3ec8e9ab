# The README's two commands: `make run` (the main job) and `make test` (every test).
# Both install the Debian packages they need first (scripts/install-deps), then build with meson.

BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_FUZZ ?= build-fuzz
FUZZ_RUNS  ?= 50000
FUZZ_TIME  ?= 60
MESON_OPTS ?= --buildtype=debugoptimized
BIN         = $(BUILD)/gpumigrate

.PHONY: all deps build run test test-plain test-san fuzz lint format format-check tidy bench clean

all: build

deps:
	./scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(BUILD_SAN)/build.ninja:
	meson setup $(BUILD_SAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job: the assessment of the shipped example plan (GKE 2 x a2-highgpu-8g -> four
# 4 x L40S servers), in the terminal and as an HTML report; then this machine's inventory.
run: build
	$(BIN) assess -p examples/gke-a100-to-l40s.yaml --html $(BUILD)/assessment.html
	@echo
	$(BIN) inventory

test: deps test-plain test-san fuzz lint
	@/usr/bin/python3 scripts/test-summary $(BUILD) $(BUILD_SAN)

test-plain: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs

test-san: $(BUILD_SAN)/build.ninja
	ninja -C $(BUILD_SAN)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(BUILD_SAN) --print-errorlogs

$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) --buildtype=debug -Dfuzz=true -Dman=disabled \
		-Db_sanitize=address,undefined -Db_lundef=false

# Each harness runs FUZZ_RUNS inputs (a fixed count, so a run is repeatable; FUZZ_TIME seconds
# at most) mutated from its seed corpus
# (the test fixtures, read only; new inputs go to $(BUILD_FUZZ)/corpus-NAME). A crash, leak,
# hang or sanitizer report fails the target and leaves the input in $(BUILD_FUZZ).
fuzz: $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ) tests/fuzz/fuzz_inventory tests/fuzz/fuzz_plan tests/fuzz/fuzz_kernlog \
		tests/fuzz/fuzz_webconfig tests/fuzz/fuzz_accept tests/fuzz/fuzz_podres \
		tests/fuzz/fuzz_sync_proto tests/fuzz/fuzz_manifest tests/fuzz/fuzz_k8s_scan \
		tests/fuzz/fuzz_oci_ref tests/fuzz/fuzz_s3_xml
	cd $(BUILD_FUZZ) && for t in inventory:inventory plan:plans kernlog:kernlog webconfig:webconfig accept:accept podres:podres sync_proto:sync-proto manifest:manifest k8s_scan:k8s/gke oci_ref:oci-ref s3_xml:s3-xml; do \
		h=$${t%%:*}; c=$${t#*:}; \
		mkdir -p corpus-$$h; \
		./tests/fuzz/fuzz_$$h -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=16384 -seed=1 \
			-artifact_prefix=fuzz-$$h- corpus-$$h $(CURDIR)/tests/fixtures/$$c \
			2>fuzz-$$h.log || { tail -40 fuzz-$$h.log; exit 1; }; \
		tail -1 fuzz-$$h.log; \
	done

# The code passes clang-format and clang-tidy (.clang-format, .clang-tidy at the root).
lint: format-check tidy

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	@echo "clang-format: clean"

tidy: $(BUILD)/build.ninja
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'src/*.c') 2>&1 | grep -v 'warnings generated' \
		| { ! grep -E 'error:|warning:|Error while' -A3; }
	@echo "clang-tidy: clean"

bench: build
	./bench/inventory.sh $(BIN)
	./bench/topo.sh $(BIN)
	./bench/assess.sh $(BIN)

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
