# cinder — the two commands of the quick start, and a few helpers.
#   make run    bootstrap, optimised build (server and web app), start `cinder serve` on 127.0.0.1:4000
#   make test   bootstrap, sanitizer build with -Werror, every test through ctest
# Build outputs live under build/ (release), build/test (ASan+UBSan) and build/fuzz (libFuzzer).

DEBIAN_PACKAGES := build-essential cmake pkg-config clang libclang-rt-dev \
                   libuv1-dev libjansson-dev libssl-dev libcmocka-dev libsqlite3-dev sqlite3 \
                   libhiredis-dev redis-server libpq-dev postgresql-15 chromium
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 10
FUZZ_MINUTES ?= 10
FUZZ_CORPUS_DIR ?= $(HOME)/.cache/cinder-fuzz
CTEST_ARGS ?=

.PHONY: all build run test bootstrap deps npm test-build fuzz-build unit e2e fuzz fuzz-long clean

all: build

# Install what is missing. As root: apt-get. Otherwise: print the line to run and stop.
bootstrap: deps npm
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done; \
	  command -v npm >/dev/null || echo nodejs npm); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "bootstrap: installing $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "bootstrap: missing Debian packages; run as root:"; \
	    echo "  apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi
# npm packages, pinned by package-lock.json: the web app's (phoenix, yjs, y-phoenix-channel, uPlot,
# bundled by esbuild) and the test clients' (ws, y-websocket, hocuspocus, playwright-core).
npm: deps
	@if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund --loglevel=error; fi

build: bootstrap
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j$(JOBS)

run: build
	./build/cinder serve --host 127.0.0.1 --port 4000

test-build: bootstrap
	cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DCINDER_SANITIZE=ON -DCINDER_WERROR=ON >/dev/null
	cmake --build build/test -j$(JOBS)

fuzz-build: bootstrap
	cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCINDER_FUZZ=ON \
	  -DCINDER_WERROR=ON -DCINDER_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build build/fuzz -j$(JOBS)

test: test-build fuzz-build
	cd build/test && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)
	cd build/fuzz && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

unit: test-build
	cd build/test && ctest --output-on-failure -L unit $(CTEST_ARGS)
e2e: test-build
	cd build/test && ctest --output-on-failure -L e2e $(CTEST_ARGS)
fuzz: fuzz-build
	cd build/fuzz && ctest --output-on-failure $(CTEST_ARGS)

# Every fuzz target for FUZZ_MINUTES each. The corpus lives outside the repository and grows from
# run to run: FUZZ_CORPUS_DIR/<target>, seeded from tests/fuzz/corpus/<target>; the full output goes
# to FUZZ_CORPUS_DIR/<target>.log and crash, leak, timeout or OOM inputs to FUZZ_CORPUS_DIR/crashes/.
fuzz-long: fuzz-build
	@failed=; for bin in build/fuzz/fuzz/fuzz_*; do t=$${bin##*/}; \
	  corpus=$(FUZZ_CORPUS_DIR)/$$t; log=$(FUZZ_CORPUS_DIR)/$$t.log; seeds=tests/fuzz/corpus/$$t; \
	  mkdir -p $$corpus $(FUZZ_CORPUS_DIR)/crashes; [ -d $$seeds ] || seeds=; \
	  echo "== $$t: $(FUZZ_MINUTES) min, corpus $$corpus"; \
	  if $$bin -max_total_time=$$(($(FUZZ_MINUTES) * 60)) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	       -artifact_prefix=$(FUZZ_CORPUS_DIR)/crashes/$$t- $$corpus $$seeds >$$log 2>&1; then \
	    grep -E '^#[0-9]+.*DONE|^stat::|^Done' $$log; \
	  else failed="$$failed $$t"; tail -n 30 $$log; echo "== $$t FAILED (full output: $$log)"; \
	    grep -h 'Test unit written to' $$log; fi; \
	done; if [ -n "$$failed" ]; then echo "fuzz-long: failed:$$failed"; exit 1; fi

clean:
	rm -rf build
