# Thin wrapper over CMake presets: `make` builds build/fixgw; `make run` and `make test` are the
# README's two commands.
.PHONY: all setup peers run demo test bench format format-check format-tool clean tools image

FORMAT_FILES = $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h' 'fuzz/*.c' 'bench/*.c' \
	'bench/gateway/*.c')
# Pinned: clang-format's output changes between versions. 19 is the same 19.1.7 on Debian 12 and 13
# (scripts/setup.sh --test installs it).
CLANG_FORMAT ?= clang-format-19

all: setup
	@cmake --preset default >/dev/null
	@cmake --build --preset default

setup:
	@./scripts/setup.sh

peers:
	@cmake -S tests/peers -B build-peers -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build-peers

run: all
	@./scripts/setup.sh --run
	@$(MAKE) -s peers
	@./scripts/run.sh

demo: all
	@./scripts/setup.sh --run
	@$(MAKE) -s peers
	@./scripts/demo.sh

test:
	@./scripts/test.sh

# The pinned third-party test programs (etcd, kube-apiserver, kubectl, kube-controller-manager, otelcol,
# helm), built from tools/ or taken from their cache; the last line printed is the directory holding them.
tools:
	@./tools/build.sh

# The OCI image (scripts/image.sh): build-image/oci, tagged fixgw:<version>; no container daemon needed.
image:
	@./scripts/setup.sh --image
	@./scripts/image.sh

bench:
	@./scripts/setup.sh --test
	@cmake --preset release >/dev/null
	@cmake --build --preset release
	@build-release/bench/bench_core
	@taskset -c 0 build-release/bench/bench_relay
	@BENCH_PLACEMENT=$${BENCH_PLACEMENT:-one,free} ./bench/run.sh build-release

format: format-tool
	@$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check: format-tool
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

format-tool:
	@command -v $(CLANG_FORMAT) >/dev/null || { echo "make: $(CLANG_FORMAT) is not installed" \
		"(scripts/setup.sh --test installs it; another version formats differently)" >&2; exit 1; }

clean:
	rm -rf build build-debug build-asan build-tsan build-release build-fuzz build-peers build-test build-image
