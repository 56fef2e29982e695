# mamori: thin wrapper over Meson + Ninja. `make run` and `make test` work on a
# fresh Debian 12 machine: both first run scripts/deps.sh, which installs only
# the Debian packages that are missing.
BUILD ?= build
ASAN ?= build-asan
FUZZ ?= build-fuzz
DATA ?= ./var

.PHONY: all deps build run test bench fuzz clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD)

run: build
	./$(BUILD)/src/daemon/mamorid --data $(DATA)

test: deps
	@bash scripts/test.sh

bench: build
	@bash bench/run.sh

fuzz: deps
	@bash scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
