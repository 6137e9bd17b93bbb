# The two quick-start commands: `make demo` (the main job on the simulated host) and `make test`.
PYTHON ?= python3

.PHONY: demo test bench deps

demo:
	@scripts/ensure-deps cli
	@xvirt demo

test:
	@scripts/ensure-deps test
	$(PYTHON) -m pytest -q

bench:
	@scripts/ensure-deps test
	$(PYTHON) -m bench

deps:
	@scripts/ensure-deps test
