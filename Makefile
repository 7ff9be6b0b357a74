# Thin wrapper over CMake presets: `make` builds build/fixgw; `make run` and `make test` are the
# README's two commands.
.PHONY: all setup run demo test bench fuzz format format-check clean tools

FORMAT_FILES = $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h' 'fuzz/*.c' 'bench/*.c' \
	'bench/gateway/*.c')

all: setup
	@cmake --preset default >/dev/null
	@cmake --build --preset default

setup:
	@./scripts/setup.sh

run: all
	@./scripts/run.sh

demo: all
	@./scripts/setup.sh --test
	@cmake -S tests/peers -B build-peers -G Ninja >/dev/null
	@cmake --build build-peers
	@./scripts/demo.sh

test:
	@./scripts/test.sh

# The pinned third-party test programs (etcd, kube-apiserver, kubectl, kube-controller-manager, otelcol,
# helm), built from tools/ or taken from their cache; the last line printed is the directory holding them.
tools:
	@./tools/build.sh

bench:
	@./scripts/setup.sh --test
	@cmake --preset release >/dev/null
	@cmake --build --preset release
	@build-release/bench/bench_core
	@taskset -c 0 build-release/bench/bench_relay
	@BENCH_PLACEMENT=$${BENCH_PLACEMENT:-one,free} ./bench/run.sh build-release

format:
	@clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build build-debug build-asan build-release build-fuzz
